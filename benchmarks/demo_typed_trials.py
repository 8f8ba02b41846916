"""The demo's typed-query trials (issue 25; DEMO.md "Typed queries"): not part of ``python -m benchmarks``.

    python benchmarks/demo_typed_trials.py trial NAME '{"short_queries": 0.5, "hard_batches": 0.5}'
    python benchmarks/demo_typed_trials.py probe checkpoints/demo
    python benchmarks/demo_typed_trials.py measure NAME checkpoints/demo
    python benchmarks/demo_typed_trials.py misses checkpoints/demo [val]
    python benchmarks/demo_typed_trials.py things checkpoints/demo [val]
    python benchmarks/demo_typed_trials.py scores checkpoints/demo [val]
    python benchmarks/demo_typed_trials.py fit checkpoints/demo
    python benchmarks/demo_typed_trials.py binding checkpoints/demo
    python benchmarks/demo_typed_trials.py margins checkpoints/demo

``trial`` trains the ``demo`` recipe with the overrides (any EncodingConfig / ModelConfig /
TrainConfig field, ``pairs_through_lexicon`` (round six: the words head's pairs read through the lexicon, its single
words as written), and the generator's ``twins`` / ``colour_twins`` / ``swap_twins``: the demo data with that share of
counterfactual twins, written to ``benchmarks/_work/demo-...``) into ``benchmarks/_work/trials/NAME``, then measures R@K and the typed-query
benchmark on val and test and appends one JSON line to ``results/demo/short-query-trials.jsonl``.
``measure`` adds a row for a bundle already trained (copied first: nothing is written into it).
``misses`` counts what a run's wrong one-thing answers show instead (``results/demo/one-thing-misses.json``).
``things`` asks where one-thing queries' right images rank by how many things their scene holds.
``scores`` gives the cosine of one-thing queries to right and to each kind of wrong image
(``results/demo/one-thing-scores.json``); ``fit`` the typed scores on 200 training images beside 200 val
images (``results/demo/typed-fit.json``: under- or over-fitting); ``binding`` whether the image embeddings tell
"a red circle" from a red square beside a blue circle (a probe per colour x shape pair); ``margins`` the same
without a probe, on each side: a caption and its swap ("a red square and a blue circle"), painted and drawn.
``probe`` asks how much of shape and colour a run's image embeddings carry: a logistic probe per
shape and per colour, fitted on val, ROC AUC on test (0.5 = nothing), and the cosine between the
run's text embeddings of "a red <shape>" for the six shapes.
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def trial(name: str, over: dict) -> dict:
    from xmr_core.data.demo import DEMO_VERSION
    from xmr_core.hardware import cpu_description
    from xmr_core.recipes import recipe
    from xmr_core.train import train

    enc, mod, tr = recipe("demo")
    pick = lambda cfg: {k: v for k, v in over.items() if hasattr(cfg, k)}  # noqa: E731
    enc, mod, tr = replace(enc, **pick(enc)), replace(mod, **pick(mod)), replace(tr, **pick(tr))
    gen = {k: over[k] for k in ("twins", "colour_twins", "swap_twins") if k in over}
    spec = "demo"
    if gen:  # the demo data with counterfactual twins, beside the trials (val / test as without them)
        from xmr_core.data.demo import ensure_demo

        folder = "demo-" + "-".join(f"{k}{v}" for k, v in sorted(gen.items()))
        spec = str(ensure_demo(out_dir=ROOT / "benchmarks" / "_work" / folder, **gen))
    if over.get("pairs_through_lexicon"):  # round six: the words head's single words as written, its pairs
        _pairs_through_lexicon()           # (words_phrases) read through the lexicon (no TrainConfig field)
    out = ROOT / "benchmarks" / "_work" / "trials" / name
    load0, t0 = os.getloadavg(), time.time()
    result = train(out, spec, None, enc, mod, tr, recipe_name="demo", overwrite=True)
    sps = [row["samples_per_s"] for row in result.log if row.get("samples_per_s")]
    res = {"name": name, "over": over, "train_s": round(time.time() - t0), "machine": cpu_description(),
           "demo_version": DEMO_VERSION, "load_at_start": [round(x, 2) for x in load0],
           "samples_per_s": round(sum(sps) / len(sps)) if sps else None,
           "synonyms_fixed": True}  # measured after the "one thing, synonyms" queries were mended (round six)
    res.update(measure(out, spec))
    with open(ROOT / "results" / "demo" / "short-query-trials.jsonl", "a") as f:
        f.write(json.dumps(res) + "\n")
    return res


def _pairs_through_lexicon() -> None:
    """Trial override ``pairs_through_lexicon``: the trainer's words-head targets become the single words as
    written (``word_targets`` without a lexicon) and, with ``words_phrases``, the pairs within a phrase read
    through the dataset's lexicon (``word_targets(..., singles=False, lexicon=...)``): "red circle" one target
    whatever the caption called it, "scarlet" and "disc" still targets of their own."""
    import torch

    import xmr_core.train.loop as loop
    from xmr_core.data.demo import dataset_lexicon
    from xmr_core.text.short_queries import Lexicon
    from xmr_core.train.samples import word_targets

    def targets(ds, n_words, max_df=0.10, phrases=False, singles=True, lexicon=None):
        words, y = word_targets(ds, n_words, max_df)
        if not phrases:
            return words, y
        pairs, yp = word_targets(ds, n_words, max_df, True, False, Lexicon(dataset_lexicon(ds.source)))
        return words + pairs, torch.cat([y, yp], dim=1)

    loop.word_targets = targets


def measure(out: Path, spec: str = "demo") -> dict:
    """R@K on full captions and the typed-query benchmark of the run in ``out`` on val and test."""
    from xmr_core.bundle.run import load_run
    from xmr_core.evaluation.evaluate import split_embeddings
    from xmr_core.evaluation.typed_eval import typed_query_metrics
    from xmr_core.retrieval.metrics import evaluate_embeddings

    run, res = load_run(out), {}
    for split in ("val", "test"):
        emb = split_embeddings(run, None, split, progress=False)
        m = evaluate_embeddings(emb.images, emb.captions, emb.caption_image)
        tq = typed_query_metrics(run, emb, spec)
        res[split] = {"R@10": (m["i2t"]["R@10"], m["t2i"]["R@10"]), "R@1": (m["i2t"]["R@1"], m["t2i"]["R@1"]),
                      "typed": {k: (v["P@5"], v["R@10"]) for k, v in tq["kinds"].items()}}
    return res


KINDS = ("one thing", "one thing, synonyms", "one thing, unseen phrasing", "one thing + size", "one thing + position",
         "two things", "colour alone", "shape alone")


def _cost(r: dict) -> str:
    """A trial's training seconds, samples/s and the 1-minute load average at its end, where recorded."""
    if not r.get("train_s"):
        return "—"
    sps = f", {r['samples_per_s']} samples/s" if r.get("samples_per_s") else ""
    load = (r.get("machine") or {}).get("loadavg")
    return f"{r['train_s']}{sps}" + (f", load {load[0]:.1f}" if load else "")


def table(path: Path = ROOT / "results" / "demo" / "short-query-trials.jsonl") -> str:
    """DEMO.md's trial table, written from the results file (tests/test_docs_figures.py checks it):
    typed-query P@5 by kind on val (test where a row has no val), one-thing R@10 and R@10 on full
    captions there, test R@10, and the training seconds (one torch thread; the load says how shared)."""
    head = ["| trial | overrides of the demo recipe of its round (`demo-irv1` up to round five) | data | split | "
            "R@10 i2t / t2i | "
            + " | ".join(KINDS) + " | one thing R@10 | test R@10 i2t / t2i | train s |",
            "|" + "---|" * (8 + len(KINDS))]
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        split = "val" if "val" in r else "test"
        s = r[split]
        r10 = " / ".join(f"{x:.1f}" for x in s["R@10"]) if "R@10" in s else "—"
        t10 = " / ".join(f"{x:.1f}" for x in r["test"]["R@10"]) if "R@10" in r.get("test", {}) else "—"
        over = ", ".join(f"{k} {v}" for k, v in r["over"].items()) or "—"
        # "†": measured before round six mended the synonym queries ("scarlet s": a letter for the shape) and
        # gave the unseen phrasings an RNG of their own (other phrasings drawn)
        cells = " | ".join(f"{s['typed'][k][0]:.1f}" + ("†" if k in KINDS[1:3] and not r.get("synonyms_fixed")
                                                          else "") for k in KINDS)
        rows.append(f"| {r['name']} | {over} | v{r['demo_version']} | {split} | {r10} | {cells} | "
                    f"{s['typed']['one thing'][1]:.1f} | {t10} | {_cost(r)} |")
    return "\n".join(head + rows)


def probe(run_path: str) -> dict:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from xmr_core.data.demo import COLOURS, SHAPES, dataset_scenes
    from xmr_core.evaluation.evaluate import split_embeddings
    from xmr_core.bundle.run import load_run

    run, scenes = load_run(run_path), dataset_scenes("demo")
    shapes, colours = list(SHAPES), list(COLOURS)
    t = run.embedder.embed_texts([f"a red {s}" for s in shapes])
    data = {}
    for split in ("val", "test"):
        emb = split_embeddings(run, None, split, progress=False)
        data[split] = (emb.images, [scenes[str(i)]["things"] for i in emb.image_ids])
    out = {"run": run_path, "text_cos_a_red_shape": np.round(t @ t.T, 2).tolist()}
    for key, values in (("shape", shapes), ("colour", colours)):
        aucs = []
        for v in values:
            has = {s: np.array([any(x[key] == v for x in th) for th in data[s][1]]) for s in data}
            clf = LogisticRegression(max_iter=2000).fit(data["val"][0], has["val"])
            aucs.append(round(float(roc_auc_score(has["test"], clf.decision_function(data["test"][0]))), 3))
        out[f"{key}_auc"] = dict(zip(values, aucs))
    return out


def measure_copy(name: str, run_path: str) -> dict:
    """A trained bundle measured as a trial row (``train_s`` None): copied to ``_work/trials/NAME`` first, so
    the val / test embeddings cached while measuring are never written into it (e.g. ``checkpoints/demo``)."""
    import shutil

    from xmr_core.data.demo import DEMO_VERSION

    out = ROOT / "benchmarks" / "_work" / "trials" / name
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(run_path, out, ignore=shutil.ignore_patterns("embeddings", "tsne", "last.pt"))
    res = {"name": name, "over": {}, "train_s": None, "demo_version": DEMO_VERSION,
           "note": f"{run_path} as committed, measured on val and test (no training)", **measure(out),
           "synonyms_fixed": True}
    with open(ROOT / "results" / "demo" / "short-query-trials.jsonl", "a") as f:
        f.write(json.dumps(res) + "\n")
    return res


def misses(run_path: str, split: str = "val") -> dict:
    """What a run's wrong one-thing answers ("a red circle") show instead, among each query's top
    min(5, #relevant) images: the right colour on another shape (and which shape, counted), the right
    shape in another colour, both on different things of the scene (the words bound wrongly), neither."""
    import collections

    import numpy as np

    from xmr_core.bundle.run import load_run
    from xmr_core.data.demo import dataset_scenes
    from xmr_core.evaluation.evaluate import split_embeddings
    from xmr_core.retrieval.typed_queries import demo_queries

    run = load_run(run_path)
    scenes = dataset_scenes(run.dataset_spec)
    emb = split_embeddings(run, None, split, progress=False)
    sc = [scenes[str(i)] for i in emb.image_ids]
    qs = [q for q in demo_queries(sc) if q.kind == "one thing"]
    scores = run.embedder.embed_texts([q.text for q in qs]) @ emb.images.T
    kinds, swaps = collections.Counter(), collections.Counter()
    for q, row in zip(qs, scores):
        colour, shape = q.text.split()[-2:]
        for j in np.argsort(-row)[:min(5, int(q.relevant.sum()))]:
            if q.relevant[j]:
                kinds["right"] += 1
                continue
            things = [(t["colour"], t["shape"]) for t in sc[j]["things"]]
            has_c, has_s = any(c == colour for c, _ in things), any(s == shape for _, s in things)
            kind = ("colour and shape on different things" if has_c and has_s else "right colour, other shape"
                    if has_c else "right shape, other colour" if has_s else "neither")
            kinds[kind] += 1
            if kind == "right colour, other shape":
                swaps[f"{shape} -> {'/'.join(sorted(s for c, s in things if c == colour))}"] += 1
    return {"run": run_path, "split": split, "queries": len(qs), "top_k_slots": dict(kinds),
            "shape_swaps": dict(swaps.most_common())}


def by_things(run_path: str, split: str = "val") -> dict:
    """Where one-thing queries' right images rank, by how many things their scene holds: each relevant
    image's rank (0 = first) under its query, and the scenes (by their number of things) that fill
    the queries' top min(5, #relevant) slots, right or wrong."""
    import collections

    import numpy as np

    from xmr_core.bundle.run import load_run
    from xmr_core.data.demo import dataset_scenes
    from xmr_core.evaluation.evaluate import split_embeddings
    from xmr_core.retrieval.typed_queries import demo_queries

    run = load_run(run_path)
    scenes = dataset_scenes(run.dataset_spec)
    emb = split_embeddings(run, None, split, progress=False)
    sc = [scenes[str(i)] for i in emb.image_ids]
    n_things = np.array([len(s["things"]) for s in sc])
    qs = [q for q in demo_queries(sc) if q.kind == "one thing"]
    scores = run.embedder.embed_texts([q.text for q in qs]) @ emb.images.T
    ranks, slots = collections.defaultdict(list), collections.Counter()
    for q, row in zip(qs, scores):
        order = np.argsort(-row)
        rank = np.empty(len(row), int)
        rank[order] = np.arange(len(row))
        for j in np.flatnonzero(q.relevant):
            ranks[int(n_things[j])].append(int(rank[j]))
        for j in order[:min(5, int(q.relevant.sum()))]:
            slots[f"{n_things[j]} things, {'right' if q.relevant[j] else 'wrong'}"] += 1
    return {"run": run_path, "split": split, "queries": len(qs),
            "gallery_scenes_by_things": {str(k): int(v) for k, v in sorted(collections.Counter(n_things).items())},
            "relevant_images": {f"{n} things": {"count": len(r), "median_rank": float(np.median(r)),
                                                "in_top_5": round(float(np.mean(np.array(r) < 5)), 3)}
                                for n, r in sorted(ranks.items())},
            "top_k_slots": dict(sorted(slots.items()))}


def scores(run_path: str, split: str = "val") -> dict:
    """The cosine of each one-thing query ("a red circle") to each gallery image, by what the image holds:
    the thing asked for (by its scene's number of things), or only its colour, only its shape, both on
    different things ("c+s apart"), or neither. A query is answered well when every "right" cosine beats
    every other; the means and 90th percentiles say which wrong kind stands in the way."""
    import collections

    import numpy as np

    from xmr_core.bundle.run import load_run
    from xmr_core.data.demo import dataset_scenes
    from xmr_core.evaluation.evaluate import split_embeddings
    from xmr_core.hardware import cpu_description
    from xmr_core.retrieval.typed_queries import demo_queries

    run = load_run(run_path)
    scenes = dataset_scenes(run.dataset_spec)
    emb = split_embeddings(run, None, split, progress=False)
    sc = [scenes[str(i)] for i in emb.image_ids]
    qs = [q for q in demo_queries(sc) if q.kind == "one thing"]
    images = emb.images / np.linalg.norm(emb.images, axis=1, keepdims=True)
    texts = run.embedder.embed_texts([q.text for q in qs])
    cos = (texts / np.linalg.norm(texts, axis=1, keepdims=True)) @ images.T
    groups = collections.defaultdict(list)
    for q, row in zip(qs, cos):
        colour, shape = q.text.split()[-2:]
        for j, scene in enumerate(sc):
            things = scene["things"]
            if q.relevant[j]:
                key = f"right, {len(things)} things"
            else:
                has_c, has_s = any(t["colour"] == colour for t in things), any(t["shape"] == shape for t in things)
                key = (f"wrong, {len(things)} things: " + ("c+s apart" if has_c and has_s else "colour only"
                                                           if has_c else "shape only" if has_s else "neither"))
            groups[key].append(float(row[j]))
    return {"how": "python benchmarks/demo_typed_trials.py scores RUN [split]", "run": run_path, "split": split,
            "queries": len(qs), "machine": cpu_description(),
            "cosine": {k: {"n": len(v), "mean": round(float(np.mean(v)), 3),
                           "p90": round(float(np.percentile(v, 90)), 3), "max": round(float(np.max(v)), 3)}
                       for k, v in sorted(groups.items())}}


def binding(run_path: str, n: int = 2000, n_fit: int = 1200) -> dict:
    """Whether a run's image embeddings bind a colour to its shape: for each colour x shape pair, a logistic
    probe on the first ``n_fit`` of ``n`` training images ("holds a red circle"), scored (ROC AUC) on the rest
    against every other image and against only the images that hold the colour and the shape on different
    things ("a red square and a blue circle": 0.5 = cannot tell them apart). The same for the trunk's pooled
    features (before the 128-d head), with an L2 penalty for their width."""
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from xmr_core.bundle.run import load_run
    from xmr_core.data.demo import COLOURS, SHAPES, dataset_scenes
    from xmr_core.data.images import read_image
    from xmr_core.data.loaders import load_dataset
    from xmr_core.hardware import cpu_description
    from xmr_core.network.inference import preprocess_images

    run = load_run(run_path)
    scenes = dataset_scenes(run.dataset_spec)
    ims = load_dataset(run.dataset_spec).split("train").images[:n]
    pics = [read_image(im.path) for im in ims]
    things = [scenes[str(im.image_id)]["things"] for im in ims]
    net, size, std = run.embedder.model.eval(), run.embedder.cfg.input_size, run.embedder.cfg.standardize
    with torch.no_grad():
        pooled = np.concatenate([net.forward_features(preprocess_images(pics[a:a + 100], size, std)).numpy()
                                 for a in range(0, len(pics), 100)])
    pooled = (pooled - pooled.mean(0)) / (pooled.std(0) + 1e-6)
    out = {"how": f"python benchmarks/demo_typed_trials.py binding RUN: probes fitted on the first {n_fit} of "
                  f"{n} training images, scored on the rest", "run": run_path, "machine": cpu_description()}
    for name, x, c in (("embedding", run.embedder.embed_images(pics), 1.0), ("pooled trunk features", pooled, 0.05)):
        vs_all, vs_apart = [], []
        for colour in COLOURS:
            for shape in SHAPES:
                y = np.array([any(t["colour"] == colour and t["shape"] == shape for t in th) for th in things])
                apart = np.array([not h and any(t["colour"] == colour for t in th) and any(t["shape"] == shape for t in th)
                                  for h, th in zip(y, things)])
                held = np.arange(len(y)) >= n_fit
                if y[~held].sum() < 10 or (apart & held).sum() < 3 or not (y & held).any():
                    continue
                clf = LogisticRegression(C=c, max_iter=3000).fit(x[~held], y[~held])
                vs_all.append(roc_auc_score(y[held], clf.decision_function(x[held])))
                m = held & (y | apart)
                vs_apart.append(roc_auc_score(y[m], clf.decision_function(x[m])))
        out[name] = {"pairs": len(vs_all), "auc_vs_all": round(float(np.mean(vs_all)), 3),
                     "auc_vs_colour_and_shape_apart": round(float(np.mean(vs_apart)), 3)}
    return out


def margins(run_path: str, n: int = 150, seed: int = 0) -> dict:
    """Whether a run binds a colour to its shape at all, on each side, with swapped pairs the generator draws:
    A = "a red circle and a blue square" and its swap B = "a red square and a blue circle", painted and drawn
    (the same background, sizes and places). The text side: cos("a red circle", A) - cos(q, B); the image side:
    cos(q, picture A) - cos(q, picture B), and cos(A, picture A) - cos(A, picture B); the caption against its
    swap for picture A (what swap_negatives trains): cos(A, picture A) - cos(B, picture A). 0 (and half the
    pairs above 0) = a bag of colours and shapes; > 0 = bound."""
    import random

    import numpy as np

    from xmr_core.bundle.run import load_run
    from xmr_core.data.demo import COLOURS, SHAPES, Thing, render_scene
    from xmr_core.hardware import cpu_description

    run = load_run(run_path)
    rng = random.Random(seed)
    text, query, caption, swapped = [], [], [], []
    for k in range(n):
        (c1, c2), (s1, s2) = rng.sample(list(COLOURS), 2), rng.sample(list(SHAPES), 2)
        where, size = rng.sample(["left", "right", "top", "bottom"], 2), rng.choice(["medium", "large"])
        background = rng.choice(["white", "grey", "sky", "sand", "mint"])
        v = run.embedder.embed_texts([f"a {c1} {s1}", f"a {c1} {s1} and a {c2} {s2}", f"a {c1} {s2} and a {c2} {s1}"])
        pics = [render_scene(background, [Thing(a, c1, size, where[0]), Thing(b, c2, size, where[1])], 128,
                             random.Random(k)) for a, b in ((s1, s2), (s2, s1))]
        e = run.embedder.embed_images(pics)
        text.append(float(v[0] @ v[1] - v[0] @ v[2]))
        query.append(float(v[0] @ e[0] - v[0] @ e[1]))
        caption.append(float(v[1] @ e[0] - v[1] @ e[1]))
        swapped.append(float(v[1] @ e[0] - v[2] @ e[0]))

    def summary(x: list[float]) -> dict:
        return {"mean": round(float(np.mean(x)), 4), "share_above_0": round(float(np.mean(np.array(x) > 0)), 3)}

    return {"how": f"python benchmarks/demo_typed_trials.py margins RUN: {n} swapped pairs, seed {seed}",
            "run": run_path, "machine": cpu_description(),
            "text: cos(q, A) - cos(q, B)": summary(text), "image: cos(q, pic A) - cos(q, pic B)": summary(query),
            "image: cos(A, pic A) - cos(A, pic B)": summary(caption),
            "caption: cos(A, pic A) - cos(B, pic A)": summary(swapped)}


def fit(run_path: str, n: int = 200) -> dict:
    """Typed one- and two-thing queries on the first ``n`` training images and the first ``n`` val images
    (the same benchmark, galleries of the same size): near-equal scores mean the run under-fits what
    the queries ask (more training would help), a gap that it over-fits."""
    import numpy as np

    from xmr_core.bundle.run import load_run
    from xmr_core.data.demo import dataset_scenes
    from xmr_core.data.images import read_image
    from xmr_core.data.loaders import load_dataset
    from xmr_core.hardware import cpu_description
    from xmr_core.retrieval.typed_queries import demo_queries, score_queries

    run = load_run(run_path)
    scenes = dataset_scenes(run.dataset_spec)
    ds = load_dataset(run.dataset_spec)
    out = {"how": f"python benchmarks/demo_typed_trials.py fit RUN: the first {n} images of each split",
           "run": run_path, "machine": cpu_description(), "splits": {}}
    for split in ("train", "val"):
        ims = ds.split(split).images[:n]
        gallery = run.embedder.embed_images([read_image(im.path) for im in ims])
        qs = [q for q in demo_queries([scenes[str(im.image_id)] for im in ims])
              if q.kind in ("one thing", "two things")]
        ranked = np.argsort(-(run.embedder.embed_texts([q.text for q in qs]) @ gallery.T), axis=1)[:, :10]
        out["splits"][split] = score_queries(qs, ranked)["kinds"]
    return out


if __name__ == "__main__":
    if sys.argv[1:2] == ["misses"]:
        print(json.dumps(misses(sys.argv[2], *(sys.argv[3:4] or ["val"])), indent=1))
    elif sys.argv[1:2] == ["things"]:
        print(json.dumps(by_things(sys.argv[2], *(sys.argv[3:4] or ["val"])), indent=1))
    elif sys.argv[1:2] == ["scores"]:
        print(json.dumps(scores(sys.argv[2], *(sys.argv[3:4] or ["val"])), indent=1))
    elif sys.argv[1:2] == ["fit"]:
        print(json.dumps(fit(sys.argv[2]), indent=1))
    elif sys.argv[1:2] == ["measure"]:
        print(json.dumps(measure_copy(sys.argv[2], sys.argv[3])))
    elif sys.argv[1:2] == ["trial"]:
        print(json.dumps(trial(sys.argv[2], json.loads(sys.argv[3]) if len(sys.argv) > 3 else {})))
    elif sys.argv[1:2] == ["table"]:
        print(table())
    elif sys.argv[1:2] == ["binding"]:
        print(json.dumps(binding(sys.argv[2]), indent=1))
    elif sys.argv[1:2] == ["margins"]:
        print(json.dumps(margins(sys.argv[2]), indent=1))
    elif sys.argv[1:2] == ["probe"]:
        print(json.dumps(probe(sys.argv[2])))
    else:
        print(__doc__)
