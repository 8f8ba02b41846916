"""What the CCA reference reaches from the text the network reads: the reference's own 300-d Word2Vec,
a 36-d Word2Vec (what the paper paints), and the 300-d vectors projected onto the reference's leading
canonical directions (what ``--word-vectors cca`` paints, docs/METHOD.md §1b); Flickr8k val, photos at 160 px.

    python -m benchmarks.cca_inputs          # writes results/flickr8k/cca-inputs.json (about 5 min, one thread)

Every row is the same closed-form CCA (``network/cca_fit.py``: ridge 0.1, power 1, 128 directions, fitted on
the training split) of the same photos' frozen ImageNet EfficientNet-Lite0 features against the mean of a
caption's word vectors; only the word vectors differ. It measures the ceiling a linear reader of the
caption's mean vector has, the question of issue 20's first table (the inputs set the ceiling).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data" / "flickr8k"
OUT = ROOT / "results" / "flickr8k" / "cca-inputs.json"


def fit_flickr8k_reference() -> tuple:
    """The CCA reference fitted on Flickr8k train with its own settings (``CCAConfig``, one thread; the same
    fit as every teacher run's): (train split, val split, encoder, train photos' features, val photos' features).
    ``benchmarks/which_side.py`` reads the same fit."""
    import torch

    from xmr_core.data import load_dataset
    from xmr_core.network.cca_fit import CCAConfig, fit_encoder, image_features

    torch.set_num_threads(1)
    ds = load_dataset(str(DATA / "dataset_flickr8k.json"), str(DATA / "images"))
    tr, te = ds.split("train"), ds.split("val")
    enc, f_tr = fit_encoder(tr, CCAConfig(), progress=True)
    return tr, te, enc, f_tr, image_features(te, enc.image_size, net=enc.trunk)


def main() -> None:
    from xmr_core.hardware import cpu_description
    from xmr_core.network.cca_encoder import _unit, mean_vectors
    from xmr_core.network.cca_fit import CCAConfig, cca_word_vectors, fit_cca
    from xmr_core.recipes import recipe
    from xmr_core.retrieval.metrics import evaluate_embeddings
    from xmr_core.text.vectors import train_word2vec

    machine, t0 = cpu_description(), time.time()
    cfg = CCAConfig()
    tr, te, enc, f_tr, f_te = fit_flickr8k_reference()
    x_tr = f_tr[np.asarray(tr.caption_image_index())]
    gt = np.asarray(te.caption_image_index())
    texts_tr, texts_te = [c.text for c in tr.captions], [c.text for c in te.captions]

    def row(what: str, kv) -> dict:
        """CCA of the photos against the mean of ``kv``'s vectors of each caption, evaluated on val."""
        mx, wx, my, wy, _ = fit_cca(x_tr, mean_vectors(kv, texts_tr), cfg.dim, cfg.ridge, cfg.power)
        m = evaluate_embeddings(_unit((f_te - mx) @ wx), _unit((mean_vectors(kv, texts_te) - my) @ wy), gt)
        print(f"{what}: rsum {m['rsum']:.1f}", flush=True)
        return {"text": what, "numbers_a_word": int(kv.vector_size),
                "i2t": {k: round(v, 2) for k, v in m["i2t"].items() if k.startswith("R@")},
                "t2i": {k: round(v, 2) for k, v in m["t2i"].items() if k.startswith("R@")},
                "rsum": round(m["rsum"], 2)}

    enc_cfg = recipe("default").encoding  # the default recipe's own Word2Vec settings (36-d, 30 passes)
    rows = [row("300-d Word2Vec (the reference)", enc.kv),
            row(f"{enc_cfg.vector_size}-d Word2Vec (the default recipe's painted vectors until issue 20)",
                train_word2vec(texts_tr, enc_cfg)),
            *(row(f"the reference's 300-d Word2Vec projected onto its {d} leading directions (--word-vectors cca)",
                  cca_word_vectors(enc, d)) for d in (36, 48, 72))]
    out = {"about": __doc__.splitlines()[0], "split": "val", "photos_px": cfg.image_size,
           "cca": {k: v for k, v in cfg.__dict__.items()}, "rows": rows, "seconds": round(time.time() - t0, 1),
           "threads": 1, "machine": machine, "command": "python -m benchmarks.cca_inputs"}
    from xmr_core.files import write_text_atomic

    write_text_atomic(OUT, json.dumps(out, indent=1) + "\n")
    print(OUT)


if __name__ == "__main__":
    main()
