"""Which side of a trained network limits its retrieval: its photos or its captions. Each run's val
embeddings are paired with the CCA reference's (the teacher's space, fitted on the training split) side
by side: the network's photos against the reference's captions, and the reference's photos against
the network's captions.

    python -m benchmarks.which_side f8k-t5-p160-f11 f8k-t5-p160-f11-e20   # -> results/flickr8k/which-side.json

A run's ``checkpoints/<run>/embeddings/flickr8k-val.npz`` (written by ``python -m xmr_core evaluate``)
is read as it is; the reference is fitted here once with its own settings (``CCAConfig``: photos at
160 px, mean 300-d Word2Vec, 128 directions), the same fit as every teacher run's (one Word2Vec
worker and a fixed seed). The mix is meaningful because the teacher pulls each run's embeddings
toward that space (docs/METHOD.md §3c); the cosines say how far each side got.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "results" / "flickr8k" / "which-side.json"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run names under checkpoints/ (evaluated on val)")
    a = ap.parse_args(argv)
    from benchmarks.cca_inputs import fit_flickr8k_reference
    from xmr_core.files import write_text_atomic
    from xmr_core.hardware import cpu_description
    from xmr_core.network.cca_encoder import _unit, mean_vectors
    from xmr_core.retrieval.metrics import evaluate_embeddings

    machine, t0 = cpu_description(), time.time()
    _, te, enc, _, f_te = fit_flickr8k_reference()
    ref_img = enc.project_features(f_te)
    ref_txt = enc.project_word_means(mean_vectors(enc.kv, [c.text for c in te.captions]))
    rows = []
    for run in a.runs:
        z = np.load(ROOT / "checkpoints" / run / "embeddings" / "flickr8k-val.npz")
        if list(z["image_ids"]) != [im.image_id for im in te.images] or \
                list(z["caption_image"]) != list(te.caption_image_index()):
            raise SystemExit(f"error: {run}'s val embeddings are not in the split's order")
        gt = np.asarray(z["caption_image"])
        img, txt = _unit(z["images"]), _unit(z["captions"])
        pairs = {"network / network": (img, txt), "network photos / reference captions": (img, ref_txt),
                 "reference photos / network captions": (ref_img, txt), "reference / reference": (ref_img, ref_txt)}
        row = {"run": run, "rsum": {k: round(evaluate_embeddings(p, c, gt)["rsum"], 2) for k, (p, c) in pairs.items()},
               "cos_to_reference": {"photos": round(float((img * ref_img).sum(1).mean()), 3),
                                    "captions": round(float((txt * ref_txt).sum(1).mean()), 3)}}
        print(run, row, flush=True)
        rows.append(row)
    out = {"about": __doc__.splitlines()[0], "split": "val", "rows": rows, "seconds": round(time.time() - t0, 1),
           "threads": 1, "machine": machine, "command": "python -m benchmarks.which_side " + " ".join(a.runs)}
    write_text_atomic(OUT, json.dumps(out, indent=1) + "\n")
    print(OUT)


if __name__ == "__main__":
    main()
