"""One cell per performance target for ``benchmarks/report.py``: what a results file's rows say.

Each function takes one results file's rows and returns the cell text (figures, met / NOT met),
or None when the file has no rows for that target. Figures are formatted from the rows, never typed.
"""
from __future__ import annotations

from typing import Any, Callable

Rows = list[dict[str, Any]]


def _met(ok: bool) -> str:
    return "**met**" if ok else "**NOT met**"


def _g(v: float) -> str:
    return f"{v:.3g}" if v < 100 else f"{v:,.0f}"


def _of(rows: Rows, module: str, pred: Callable[[dict[str, Any]], bool] = lambda r: True) -> Rows:
    return [r for r in rows if r.get("module") == module and "error" not in r and pred(r)]


def search(rows: Rows) -> str | None:
    ours = _of(rows, "bench_search", lambda r: "target" in r)
    if not ours:
        return None
    r = ours[0]
    ref = next(x for x in rows if x.get("module") == "bench_search" and x.get("reference") and x["case"] == r["case"])
    return (f"{_g(r['median'])} s vs faiss {_g(ref['median'])} s = {r['median'] / ref['median']:.2f}x faiss's time, "
            f"{r['case']}: {_met(r['met'])}")


def evaluation(rows: Rows) -> str | None:
    tot = _of(rows, "bench_eval", lambda r: "target" in r and not r["variant"].startswith("total, before"))
    if not tot:
        return None
    parts = [f"{r['case'].split(', ', 1)[-1].replace(': total', '')} {_g(r['median'])} s"
             + (" (extrapolated)" if r.get("extrapolated") else "") for r in tot]
    return f"{'; '.join(parts)}: {_met(all(r['met'] for r in tot))}"


def evaluation_floor(rows: Rows) -> str | None:
    """Per network: the forward pass alone, the inputs' preparation and the arithmetic floor, against the
    60 s evaluation target. The forward already keeps both cores busy (two torch threads), so the inputs
    prepared beside it add to the wall time rather than hide in it: forward + inputs is the work to fit."""
    f = _of(rows, "bench_eval_floor")
    if not f:
        return None
    parts, over = [], []
    for case in dict.fromkeys(r["case"] for r in f):
        fwd = next(r for r in f if r["case"] == case and r.get("forward"))
        floor = next(r for r in f if r["case"] == case and r.get("floor"))
        prep = sum(r["median"] for r in f if r["case"] == case and r["variant"].startswith("prepare"))
        name = case.split(", ", 1)[-1].replace(": where the time goes", "")
        parts.append(f"{name}: forward alone {_g(fwd['median'])} s ({fwd['ms_per_item']:.2f} ms an item, "
                     f"{100 * floor['median'] / fwd['median']:.0f} % of the GEMM rate overall) + inputs {_g(prep)} s = "
                     f"{_g(fwd['median'] + prep)} s of work; arithmetic floor {_g(floor['median'])} s "
                     f"({floor['gflop_per_item']:.2f} GFLOP an item at {floor['gemm_gflops']:.0f} GFLOP/s)")
        if fwd["median"] + prep > 60.0:
            over.append(name)
    verdict = (f": more than 60 s of work for {', '.join(over)} on this CPU, so no scheduling meets the target there; "
               "it needs fewer operations (a narrower network or smaller input) or faster convolutions" if over
               else ": the work fits in 60 s")
    return "; ".join(parts) + verdict


def demo(rows: Rows) -> str | None:
    d = _of(rows, "bench_demo", lambda r: "target" in r)
    if not d:
        return None
    parts = [f"{_g(r['median'])} s, test R@10 {r.get('test_R@10_i2t', '?')} / {r.get('test_R@10_t2i', '?')}" for r in d]
    same = all(r.get("identical_weights") for r in d) if "identical_weights" in d[0] else None
    return (f"{'; '.join(parts)}" + ("" if same is None else f"; identical weights: {'yes' if same else 'no'}")
            + f": {_met(all(r['met'] for r in d))}")


def query(rows: Rows) -> str | None:
    q = _of(rows, "bench_query", lambda r: "target" in r)
    if not q:
        return None
    worst = max(q, key=lambda r: r["median"])
    return f"p50 {_g(min(r['median'] for r in q))}-{_g(worst['median'])} ms over {len(q)} cases: {_met(all(r['met'] for r in q))}"


def map_render(rows: Rows) -> str | None:
    m = _of(rows, "bench_map", lambda r: "target" in r)
    if not m:
        return None
    r = m[0]
    return f"{_g(r['median'])} s ({_g(r['min'])}-{_g(r['max'])}), {r['case']}: {_met(r['met'])}"


def encode(rows: Rows) -> str | None:
    e = _of(rows, "bench_encode", lambda r: "target" in r)
    if not e:
        return None
    r = e[0]
    return f"{r['median']:,.0f} captions/s, pixel-equal {r.get('pixel_equal_to_reference', '?')}: {_met(r['met'])}"


def _per_setting(rows: Rows, module: str, target_start: str) -> str | None:
    t = _of(rows, module, lambda r: r.get("target", "").startswith(target_start))
    if not t:
        return None
    parts = []
    for r in t:
        ref = next(x for x in rows if x.get("module") == module and x.get("reference") and x["case"] == r["case"])
        parts.append(f"{r['case'].split('_')[-1]}: {r['median'] / ref['median']:.2f}x")
    return f"{'; '.join(parts)}: {_met(all(r['met'] for r in t))}"


def train_step(rows: Rows) -> str | None:
    return _per_setting(rows, "bench_train_step", ">= 1.0x facenet-pytorch at the same setting")


def train_default(rows: Rows) -> str | None:
    d = _of(rows, "bench_train_step", lambda r: r.get("target") == "auto's setting is the fastest measured")
    if not d:
        return None
    parts = [f"{r.get('size')} px: auto {r['setting']}, fastest {r['fastest_setting']}" for r in d]
    return f"{'; '.join(parts)}: {_met(all(r['met'] for r in d))}"


def backbone_step(rows: Rows) -> str | None:
    return _per_setting(rows, "bench_backbone_step", ">= 1.0x the reference implementation")


def place(rows: Rows) -> str | None:
    p = _of(rows, "bench_tsne", lambda r: "target" in r)
    return f"{_g(p[0]['median'])} s: {_met(p[0]['met'])}" if p else None


def memory(rows: Rows) -> str | None:
    m = _of(rows, "bench_memory")
    t = [r for r in m if "target" in r]
    if not t:
        return None
    sizes = " vs ".join(f"{r['median']:,.0f} MB" for r in m)
    return f"{sizes}: {_met(t[0]['met'])}"


def tuned_index(rows: Rows) -> str | None:
    t = _of(rows, "bench_index", lambda r: "target" in r)
    if not t:
        return None
    r = t[0]
    mine = {x["case"].split(": ", 1)[1]: x["median"] for x in _of(rows, "bench_index", lambda x: x["variant"] == r["variant"])}
    flat = {x["case"].split(": ", 1)[1]: x["median"] for x in _of(rows, "bench_index", lambda x: x.get("reference"))}
    rss, p50 = "RSS growth, load + answer the queries", "p50 latency, one query a call (memory-mapped)"
    return (f"{r['factory']} ({r['params']}), {r['n']:,} x 128: recall@10 {mine['recall@10 vs exact']:.3f}, p50 "
            f"{_g(mine[p50])} ms (flat {_g(flat[p50])} ms), {_g(mine[rss])} MB (flat {_g(flat[rss])} MB): {_met(r['met'])}")


def large_map(rows: Rows) -> str | None:
    m = _of(rows, "bench_scale", lambda r: "target" in r)
    if not m:
        return None
    r = m[0]
    return f"{_g(r['median'])} s ({_g(r['min'])}-{_g(r['max'])}), {r['points']:,} points: {_met(r['met'])}"


def sharded_embed(rows: Rows) -> str | None:
    e = _of(rows, "bench_shards")
    one = next((r for r in e if r["variant"] == "1 process, 1 thread"), None)
    two = next((r for r in e if r["variant"].startswith("2 processes")), None)
    if one is None or two is None:
        return None
    same = two["vs_one_thread_single_process"]
    return (f"{_g(two['median'])} vs {_g(one['median'])} items/s = {two['median'] / one['median']:.2f}x, output {same}: "
            f"{_met(two['median'] > one['median'] and same == 'identical')}")


TARGETS: list[tuple[str, Callable[[Rows], str | None]]] = [
    ("tuned index at 1M x 128: recall@10 >= 0.95 at p50 <= 10 ms in <= 1 GB", tuned_index),
    ("embedding map, 200k points, opens in Chromium <= 3 s", large_map),
    ("embed under torchrun: 2 processes faster than 1 (one thread each), bit-identical", sharded_embed),
    ("exact top-10 search <= 1.2x faiss's time", search),
    ("full evaluation 1k / 5k at 160 px <= 60 s", evaluation),
    ("full evaluation: where the time goes, and its floor on this CPU", evaluation_floor),
    ("demo from scratch <= 5 min, test R@10 >= 90 both ways", demo),
    ("query p50 <= 100 ms", query),
    ("embedding map, 30k points, drawn whole <= 3 s", map_render),
    ("caption painting >= 5,000 captions/s (batched)", encode),
    ("train step, ours >= 1.0x facenet-pytorch at every shared setting", train_step),
    ("train step, `--amp auto --channels-last auto` picks the fastest measured setting", train_default),
    ("Lite0 train step, ours >= 1.0x efficientnet_lite_pytorch at every shared setting", backbone_step),
    ("t-SNE: place 100 points <= 1 s", place),
    ("training peak RSS: 2k vs 20k images within 10 %, <= 4 GB", memory),
]
