"""The demo's figures in README.md and DEMO.md, written from the committed files: ``python -m benchmarks.demo_docs``.

Each block between ``<!-- generated:NAME -->`` and ``<!-- /generated -->`` is rewritten from
``checkpoints/demo{,-paper}/metrics.json``, ``results/demo/build.json`` and
``results/demo/short-query-trials.jsonl``, ``results/regions.jsonl``; ``tests/test_docs_figures.py`` fails when a committed
page differs from what this writes (a figure changed in a file but not in the docs, or the reverse).
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DOCS = ("README.md", "DEMO.md")
BLOCK = re.compile(r"(<!-- generated:([a-z0-9-]+) -->\n)(.*?)(<!-- /generated -->)", re.S)
KS = (1, 5, 10)


def _metrics(name: str) -> dict:
    return json.loads((ROOT / "checkpoints" / name / "metrics.json").read_text(encoding="utf-8"))


def _build() -> dict:
    return {b["bundle"]: b for b in json.loads((ROOT / "results" / "demo" / "build.json").read_text())["builds"]}


def _recall_table(m: dict) -> str:
    rows = ["| direction | R@1 | R@5 | R@10 | medr | meanr |", "|---|---|---|---|---|---|"]
    for d, label in (("i2t", f"image → text ({m['n_images']} queries over {m['n_captions']} captions)"),
                     ("t2i", f"text → image ({m['n_captions']} queries over {m['n_images']} images)")):
        r = m[d]
        rows.append(f"| {label} | {r['R@1']:.1f} | {r['R@5']:.1f} | **{r['R@10']:.1f}** | {r['medr']:.0f} | "
                    f"{r['meanr']:.1f} |")
    s = m["semantic"]
    rows += ["", f"rsum {m['rsum']:.1f}. Semantic metric ({s['relevance']} relevance, \"related\" ≥ "
             f"{s['threshold']:.2f}, calibrated on the split's captions): image→text sR@1 {s['i2t']['sR@1']:.1f} / "
             f"sR@5 {s['i2t']['sR@5']:.1f}, NCS@10 {s['i2t']['NCS@10']:.1f}; text→image sR@1 {s['t2i']['sR@1']:.1f}"
             f" / sR@5 {s['t2i']['sR@5']:.1f}, NCS@10 {s['t2i']['NCS@10']:.1f}."]
    return "\n".join(rows)


def _bundles() -> str:
    b = _build()
    rows = ["| bundle | test R@1 / 5 / 10 image→text | text→image | sR@10 i2t / t2i | typed one thing P@5 | "
            "two things P@5 | built in |", "|---|---|---|---|---|---|---|"]
    for name in ("demo", "demo-paper"):
        m, t = _metrics(name), _metrics(name).get("typed_queries", {}).get("kinds", {})
        rk = lambda d: " / ".join(f"{m[d][f'R@{k}']:.1f}" for k in KS)  # noqa: E731
        sem = m["semantic"]
        secs = b.get(name, {}).get("seconds")
        rows.append(f"| `{name}` | {rk('i2t')} | {rk('t2i')} | {sem['i2t']['sR@10']:.1f} / {sem['t2i']['sR@10']:.1f} | "
                    f"{t.get('one thing', {}).get('P@5', float('nan')):.1f} | "
                    f"{t.get('two things', {}).get('P@5', float('nan')):.1f} | "
                    + (f"{secs:.0f} s |" if secs else "— |"))
    return "\n".join(rows)


def _typed() -> str:
    from xmr_core.retrieval.typed_queries import typed_table

    ours, paper = _metrics("demo")["typed_queries"], _metrics("demo-paper")["typed_queries"]
    lines = typed_table(ours).splitlines()
    head = lines[0].replace("| P@5 | R@10 |", "| P@5 | R@10 | demo-paper P@5 | demo-paper R@10 |")
    out = [head, lines[1] + "---|---|"]
    for line in lines[2:]:
        kind = line.split("|")[1].strip()
        p = paper["kinds"].get(kind, {})
        out.append(line + f" {p.get('P@5', float('nan')):.1f} | {p.get('R@10', float('nan')):.1f} |")
    return "\n".join(out)


def _build_line() -> str:
    b = _build()["demo"]
    m0 = b["machine_start"]
    return (f"`python -m xmr_core.cli.demo --force` rebuilt `checkpoints/demo` in **{b['seconds']:.0f} s** "
            f"(stages: " + ", ".join(f"{k} {v:.0f} s" for k, v in b["stages_s"].items())
            + f"; {m0['kind']}, load average {m0['loadavg'][0]:.2f} at the start; `results/demo/build.json`), "
            f"test R@10 {b['test_R@10'][0]:.1f} / {b['test_R@10'][1]:.1f}.")


def _trials() -> str:
    from benchmarks.demo_typed_trials import table

    return table()


def _regions() -> str:
    """``results/regions.jsonl`` (benchmarks/typed_regions.py): one table a measured (run, split)."""
    out = []
    for line in (ROOT / "results" / "regions.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        kinds = list(next(iter(r["grids"].values()))["typed"])
        cpu = r["machine"]
        out += [f"`{r['run']}`, {r['split']} ({r['images']} images; {cpu['kind']}, {cpu['torch_threads']} "
                f"thread(s), load {cpu['loadavg'][0]:.2f}): typed P@5 / R@10, full captions' text→image "
                "R@1 / 5 / 10", "",
                "| windows | " + " | ".join(kinds) + " | short queries | full captions t2i | windows' embedding s |",
                "|---" * (len(kinds) + 4) + "|"]
        for g, row in r["grids"].items():
            t2i = row.get("t2i_full_captions") or row.get("t2i_full_captions_with_windows")
            what = "none (whole pictures)" if g == "0" else f"{g} x {g}"
            typed = " | ".join(f"{row['typed'][k][0]:.1f} / {row['typed'][k][1]:.1f}" for k in kinds)
            out.append(f"| {what} | {typed} | {row['short_queries']} | {' / '.join(f'{x:.1f}' for x in t2i)}"
                       + (" (whole)" if g == "0" else " (with windows)") + f" | {row['windows_seconds']:.0f} |")
        out.append("")
    return "\n".join(out)


BLOCKS = {"demo-regions": _regions, "demo-test": lambda: _recall_table(_metrics("demo")), "demo-bundles": _bundles, "demo-typed": _typed,
          "demo-build": _build_line, "demo-trials": _trials}


def render_blocks(doc: str, blocks: dict, owns) -> str:
    """``doc`` with every generated block whose name ``owns(name)`` accepts rewritten from ``blocks``
    (an owned name not in ``blocks`` is an error); other generators' blocks are left as they are."""
    def one(mt: re.Match) -> str:
        name = mt.group(2)
        if not owns(name):
            return mt.group(0)
        if name not in blocks:
            raise KeyError(f"unknown generated block {name!r}")
        return mt.group(1) + blocks[name]().rstrip() + "\n" + mt.group(4)
    return BLOCK.sub(one, doc)


def render(doc: str) -> str:
    """``doc`` with every demo block rewritten (real-data ``f8k-`` blocks: benchmarks/flickr_docs.py)."""
    return render_blocks(doc, BLOCKS, lambda name: not name.startswith("f8k-"))


def rewrite(docs: tuple[str, ...], render_doc) -> None:
    """Rewrite each of ``docs`` (paths from the repository root) that ``render_doc`` changes."""
    for name in docs:
        path = ROOT / name
        text = path.read_text(encoding="utf-8")
        new = render_doc(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"rewrote {name}")


if __name__ == "__main__":
    rewrite(DOCS, render)
