"""docs/SCALE.md's figures, written from the committed results files: ``python -m benchmarks.scale_doc``.

Each block between ``<!-- generated:NAME -->`` and ``<!-- /generated -->`` in docs/SCALE.md is
rewritten from ``benchmarks/results-issue24-*.json`` (``bench_shards``, ``bench_index``,
``bench_scale``): the measured figures, and every extrapolation as the arithmetic that gives it,
computed here from those figures (so a re-measured file changes the plan with it).
``tests/test_scale_doc.py`` fails when the page differs from what this writes. ``--check``: exit 1
instead of writing.
"""
from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.demo_docs import BLOCK  # noqa: E402,F401 - one pattern for every generated block

DOC = ROOT / "docs" / "SCALE.md"
# the shards and map figures from an idle machine (two processes need both cores; the page's target is
# for an idle machine); the loaded runs are kept beside them
FILES = {"shards": "results-issue24-shards-idle.json", "index": "results-issue24-index.json",
         "scale": "results-issue24-scale-idle.json",
         # the same page before the canvas map, when plotly drew the 200k points (same benchmark, idle)
         "scale_plotly": "results-issue24-scale-plotly-idle.json"}
CAPTIONS_PER_IMAGE = 5  # Flickr30K's and COCO's


def load(key: str) -> dict[str, Any]:
    return json.loads((ROOT / "benchmarks" / FILES[key]).read_text(encoding="utf-8"))


def _machine(key: str) -> str:
    m = load(key)["machine"]
    return (f"`benchmarks/{FILES[key]}`: {m['cpu_model']} ({' '.join(m['flags'])}), {m['cpus_usable']} cores, "
            f"load {m['loadavg_at_start'][0]} at the start ({m['date'][:16].replace('T', ' ')} UTC)")


def _g(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _hours(s: float) -> str:
    if s < 600:
        return f"{s:,.0f} s"
    return f"{s / 3600:,.1f} h" if s < 3600 * 48 else f"{s / 86400:,.0f} days"


def embed_block() -> str:
    rows = load("shards")["rows"]
    one = next(r for r in rows if r["variant"] == "1 process, 1 thread")
    two = next(r for r in rows if r["variant"].startswith("2 processes"))
    thr = next(r for r in rows if r["variant"] == "1 process, 2 threads")
    out = [f"Measured ({_machine('shards')}), {one['case']}:", "",
           "| variant | items/s | vs 1 process, 1 thread | output |", "|---|---|---|---|"]
    for r in (one, thr, two):
        out.append(f"| {r['variant']} | {_g(r['median'])} | x{r['median'] / one['median']:.2f} | "
                   f"{r['vs_one_thread_single_process']} |")
    per_core = one["median"]
    out += ["", f"Two processes beat one only when each has a core of its own; the load above says whether this run "
            f"had them. Extrapolated with {CAPTIONS_PER_IMAGE} captions an image (items = images x "
            f"{1 + CAPTIONS_PER_IMAGE}), at the one-process, one-thread rate ({_g(per_core)} items/s) per core, "
            f"ranks scaling with cores (they share nothing but barriers), the demo network at its input size:", "",
            "| images | items | core-hours (items / rate / 3600) | on 2 cores | on 64 cores | merged .npy "
            "(items x 128 x 4 bytes) |", "|---|---|---|---|---|---|"]
    for n in (1_000_000, 100_000_000):
        items = n * (1 + CAPTIONS_PER_IMAGE)
        s = items / per_core
        out.append(f"| {n:,} | {items:,} | {items:,} / {_g(per_core)} / 3600 = {s / 3600:,.0f} | {_hours(s / 2)} | "
                   f"{_hours(s / 64)} | {items * 128 * 4 / 1e9:,.1f} GB |")
    return "\n".join(out)


def _index_rows() -> dict[str, dict[str, Any]]:
    """{variant label: {measure: value}} of the 1M index benchmark."""
    out: dict[str, dict[str, Any]] = {}
    for r in load("index")["rows"]:
        measure = r["case"].split(": ", 1)[1]
        out.setdefault(r["variant"], {"_row": r})[measure] = r["median"]
    return out


def index_block() -> str:
    rows = _index_rows()
    n = next(iter(rows.values()))["_row"]["n"]
    cols = ["build (train + add)", "size on disk", "RSS growth, load + answer the queries",
            "p50 latency, one query a call (memory-mapped)", "p99 latency, one query a call (memory-mapped)",
            "recall@1 vs exact", "recall@10 vs exact"]
    out = [f"Measured at {n:,} x 128, one thread ({_machine('index')}):", "",
           "| index | build s | disk MB | RAM (RSS growth) MB | p50 ms | p99 ms | recall@1 | recall@10 |",
           "|---|---|---|---|---|---|---|---|"]
    for label, v in rows.items():
        cells = [_g(v[c]) if "recall" not in c else f"{v[c]:.3f}" for c in cols]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    chosen = next(v for label, v in rows.items() if "[chosen]" in label)
    r = chosen["_row"]
    nlist = int(re.match(r"IVF(\d+)", r["factory"]).group(1))
    big_n = 100_000_000
    big_nlist = 2 ** round(math.log2(4 * math.sqrt(big_n)))
    per_list, big_per_list = n / nlist, big_n / big_nlist
    ram = chosen["RSS growth, load + answer the queries"] * big_n / n
    p50 = chosen["p50 latency, one query a call (memory-mapped)"] * big_per_list / per_list
    build = chosen["build (train + add)"]
    out += ["", f"The chosen index, `{r['factory']}` at `{r['params']}`, extrapolated to {big_n:,} vectors:", "",
            "| quantity | arithmetic | 100M |", "|---|---|---|",
            f"| codes + ids in RAM (or page cache, memory-mapped) | {_g(chosen['RSS growth, load + answer the queries'])} MB"
            f" x {big_n // n} | {ram / 1000:,.1f} GB |",
            f"| lists | 4 sqrt(n) as a power of two: {nlist:,} -> {big_nlist:,} | {big_nlist:,} |",
            f"| p50 a query at the same nprobe (vectors scanned grow with n / nlist) | {_g(chosen['p50 latency, one query a call (memory-mapped)'])}"
            f" ms x ({big_n:,} / {big_nlist:,}) / ({n:,} / {nlist:,}) | {p50:.1f} ms |",
            f"| build, one thread (lower bound: the add grows with n, the k-means on 64 points a list with "
            f"nlist squared, {(big_nlist // nlist) ** 2}x, and the measurement does not split them) | "
            f"{_g(build)} s x {big_n // n} | {_hours(build * big_n / n)} |"]
    return "\n".join(out)


def _tsne() -> tuple[list[dict[str, Any]], dict[str, float]]:
    """The t-SNE rows (by size) and the growth exponent of each part between the two sizes."""
    rows = sorted((r for r in load("scale")["rows"] if r["case"].startswith("t-SNE fit")), key=lambda r: r["points"])
    a, b = rows[0], rows[-1]
    ratio = math.log(b["points"] / a["points"])
    return rows, {k: math.log(b[k] / a[k]) / ratio for k in ("neighbours_and_affinities_s", "iterations_s")}


def map_block() -> str:
    rows, exp = _tsne()
    a, big = rows[0], rows[-1]
    knn, it = "neighbours_and_affinities_s", "iterations_s"
    out = [f"Measured ({_machine('scale')}):", "", "| t-SNE fit, one thread | total s | neighbours + affinities s | "
           "500 iterations s |", "|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['points']:,} points | {_g(r['median'])} | {_g(r[knn])} | {_g(r[it])} |")
    out += ["", "Each part grows at its own rate between the two sizes: the neighbours (exact, in torch) "
            f"log({_g(big[knn])} / {_g(a[knn])}) / log({big['points']:,} / {a['points']:,}) = {exp[knn]:.2f}, the "
            f"iterations (FFT) log({_g(big[it])} / {_g(a[it])}) / log({big['points']:,} / {a['points']:,}) = {exp[it]:.2f}. Extrapolated, "
            f"t = {_g(big[knn])} s x (n / {big['points']:,}) ^ {exp[knn]:.2f} + {_g(big[it])} s x "
            f"(n / {big['points']:,}) ^ {exp[it]:.2f}:", "",
            "| points | neighbours | iterations | t-SNE fit, one thread |", "|---|---|---|---|"]
    for n in (200_000, 1_000_000, 6_000_000):
        k, i = big[knn] * (n / big["points"]) ** exp[knn], big[it] * (n / big["points"]) ** exp[it]
        out.append(f"| {n:,} | {_hours(k)} | {_hours(i)} | {_hours(k + i)} |")
    cli = next((r for r in load("scale")["rows"] if "by the CLI" in r["case"]), None)
    if cli is not None:
        k, i = (big[x] * (cli["points"] / big["points"]) ** exp[x] for x in (knn, it))
        out += ["", f"Measured at {cli['points']:,} points, the whole split of the map below, by the CLI "
                f"(`python -m xmr_core tsne`, one thread, its progress bar on stderr): **{cli['median']:,.0f} s** "
                f"({cli['median'] / 60:.0f} min; the fit alone {cli['fit_seconds']:,.0f} s), against {_hours(k + i)} extrapolated above: the "
                "extrapolation from two small sizes is a lower bound, and the exact neighbour search is why."]
    page = [r for r in load("scale")["rows"] if r["case"].startswith("Embedding map page")]
    before = [dict(r, variant=f"{r['variant']}, before: plotly WebGL (`benchmarks/{FILES['scale_plotly']}`)")
              for r in load("scale_plotly")["rows"] if r["case"].startswith("Embedding map page, 200,000")
              and r["variant"].startswith("open in a fresh tab")]
    out += ["", "| the map page in Chromium | variant | seconds (median, min-max) | target |", "|---|---|---|---|"]
    for r in page + before:
        tgt = f"{r['target']}: **{'met' if r['met'] else 'NOT met'}**" if "target" in r else ""
        out.append(f"| {r['case'].split(', in ')[0]} | {r['variant']} | {_g(r['median'])} ({_g(r['min'])}-"
                   f"{_g(r['max'])}) | {tgt} |")
    return "\n".join(out)


BLOCKS = {"scale-embed": embed_block, "scale-index": index_block, "scale-map": map_block}


def render(doc: str) -> str:
    """``doc`` with the ``scale-`` blocks rewritten (demo_docs' renderer; other generators' blocks kept)."""
    from benchmarks.demo_docs import render_blocks

    return render_blocks(doc, BLOCKS, lambda name: name.startswith("scale-"))


def main(argv: list[str] | None = None) -> int:
    from benchmarks.demo_docs import rewrite

    argv = sys.argv[1:] if argv is None else argv
    if "--check" in argv:
        old = DOC.read_text(encoding="utf-8")
        return int(render(old) != old)
    rewrite((str(DOC.relative_to(ROOT)),), render)
    return 0


if __name__ == "__main__":
    sys.exit(main())
