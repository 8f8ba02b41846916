"""Training: a tiny run end to end, exact resume, run-bundle validation, DDP with 2 CPU processes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from xmr_core.config import EncodingConfig, ModelConfig, TrainConfig
from xmr_core.errors import RunError
from xmr_core.bundle.run import load_run
from xmr_core.train import train

ROOT = Path(__file__).resolve().parents[1]

ENC = EncodingConfig(canvas=80, superpixel=2, gap=2, margin=2, w2v_epochs=2)
MOD = ModelConfig(input_size=80, width=0.125, standardize=True)
TR = TrainConfig(epochs=2, batch_size=16, captions_per_class=3, classes_per_batch=4, lr=1e-3,
                 contrastive_weight=1.0, val_every=1, val_images=10, seed=7, threads=1, max_steps=0)


@pytest.fixture(scope="module")
def tiny_ds(tmp_path_factory):
    from xmr_core.data.demo import generate_demo

    out = tmp_path_factory.mktemp("tiny")
    # 24 train classes -> 6 steps an epoch with 4 classes a batch
    path = generate_demo(out, n_images=44, seed=2, image_size=64, n_val=10, n_test=10)
    return str(path), str(out / "images")


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "model.pt", weights_only=True)


def test_tiny_training_writes_a_loadable_bundle(tiny_ds, tmp_path):
    spec, images = tiny_ds
    res = train(tmp_path / "run", spec, images, ENC, MOD, TR, progress=False)
    assert res.epochs_done == 2 and res.steps == 12 and not res.interrupted
    run_dir = tmp_path / "run"
    for f in ("config.json", "model.pt", "vectors.bin", "encoder.json", "train_log.csv", "last.pt"):
        assert (run_dir / f).is_file(), f
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["model"]["width"] == 0.125 and cfg["dataset"]["spec"] == spec and cfg["code_version"]
    assert cfg["allocator"] == "system default"  # no frozen-feature cache: glibc's defaults (hardware.py)
    log = (run_dir / "train_log.csv").read_text().splitlines()
    assert len(log) == 3 and "val_i2t_R@10" in log[0]
    run = load_run(run_dir)
    vec = run.embedder.embed_texts(["a red circle on the left"])
    assert vec.shape == (1, 128) and abs(float((vec ** 2).sum()) - 1) < 1e-4


def test_resume_is_exact(tiny_ds, tmp_path):
    """An interrupted seeded run, resumed, ends with the same weights as an uninterrupted one."""
    spec, images = tiny_ds
    full = tmp_path / "full"
    train(full, spec, images, ENC, MOD, replace(TR, val_every=0), progress=False)
    part = tmp_path / "part"
    r1 = train(part, spec, images, ENC, MOD, replace(TR, val_every=0, max_steps=4), progress=False)
    assert r1.steps == 4 and r1.epochs_done == 0  # stopped mid-epoch
    r2 = train(part, spec, images, resume=True, resume_overrides={"max_steps": 0}, progress=False)
    assert r2.steps == 12 and r2.epochs_done == 2
    a, b = _weights(full), _weights(part)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_sigterm_checkpoints_and_resume_matches(tiny_ds, tmp_path):
    """SIGTERM mid-run: the trainer saves and exits 130; --resume ends at the uninterrupted weights."""
    spec, images = tiny_ds
    args = [sys.executable, "-m", "xmr_core", "train", "--dataset", spec, "--images-dir", images,
            "--recipe", "demo", "--input-size", "80", "--width", "0.125", "--canvas", "80", "--superpixel", "2",
            "--epochs", "3", "--batch-size", "16", "--classes-per-batch", "4", "--captions-per-class", "3",
            "--val-every", "0", "--threads", "1", "--seed", "3", "--warmup-steps", "2"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    ref = tmp_path / "ref"
    r = subprocess.run(args + ["--out", str(ref)], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    run = tmp_path / "killed"
    p = subprocess.Popen(args + ["--out", str(run)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, env=env)
    deadline = time.time() + 240
    while time.time() < deadline and not (run / "last.pt").exists():  # wait for the first epoch's checkpoint
        time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=240)
    assert p.returncode in (0, 130), out[-2000:]
    r = subprocess.run(args[:4] + ["--out", str(run), "--resume"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    a, b = _weights(ref), _weights(run)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_bundle_errors(tiny_ds, tmp_path):
    spec, images = tiny_ds
    run_dir = tmp_path / "run"
    train(run_dir, spec, images, ENC, MOD, replace(TR, val_every=0, max_steps=1), progress=False)
    load_run(run_dir)
    # a config that does not match the weights
    cfg = json.loads((run_dir / "config.json").read_text())
    cfg["model"]["width"] = 0.25
    bad = tmp_path / "mismatch"
    bad.mkdir()
    for f in run_dir.iterdir():
        if f.is_file():
            (bad / f.name).write_bytes(f.read_bytes())
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(RunError, match="does not match"):
        load_run(bad)
    # a truncated model.pt
    trunc = tmp_path / "trunc"
    trunc.mkdir()
    for f in run_dir.iterdir():
        if f.is_file():
            (trunc / f.name).write_bytes(f.read_bytes())
    data = (run_dir / "model.pt").read_bytes()
    (trunc / "model.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(RunError, match="not a loadable weights file"):
        load_run(trunc)
    # a malicious pickle is refused (weights_only=True)
    evil = tmp_path / "evil"
    evil.mkdir()
    for f in run_dir.iterdir():
        if f.is_file():
            (evil / f.name).write_bytes(f.read_bytes())

    class Boom:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    torch.save({"x": Boom()}, evil / "model.pt")
    with pytest.raises(RunError):
        load_run(evil)
    assert not (tmp_path / "pwned").exists()
    # missing files
    (trunc / "vectors.bin").unlink()
    with pytest.raises(RunError, match="missing vectors.bin"):
        load_run(trunc)


def test_nan_loss_stops_with_message(tiny_ds, tmp_path, monkeypatch):
    """A NaN loss stops training with a message; the last good checkpoint is kept."""
    spec, images = tiny_ds
    from xmr_core import losses as train_mod
    from xmr_core.errors import XmrError

    run_dir = tmp_path / "nan"
    train(run_dir, spec, images, ENC, MOD, replace(TR, val_every=0, epochs=1), progress=False)
    before = (run_dir / "last.pt").read_bytes()
    real_ce = train_mod.F.cross_entropy
    monkeypatch.setattr(train_mod.F, "cross_entropy", lambda *a, **k: real_ce(*a, **k) * float("nan"))
    with pytest.raises(XmrError, match="diverged"):
        train(run_dir, spec, images, resume=True, resume_overrides={"epochs": 2}, progress=False)
    assert (run_dir / "last.pt").read_bytes() == before
    load_run(run_dir)


@pytest.mark.slow
def test_ddp_two_cpu_processes(tiny_ds, tmp_path, tiny_ddp_train):
    spec, images = tiny_ds
    out = tmp_path / "ddp"
    r = subprocess.run(tiny_ddp_train(spec, images, out, "--epochs", "1"), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["world_size"] == 2
    log = (out / "train_log.csv").read_text().splitlines()
    assert len(log) == 2  # one epoch, written once (rank 0 only)
    load_run(out)


def test_train_help_documents_every_option():
    r = subprocess.run([sys.executable, "-m", "xmr_core", "train", "--help"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0
    for opt in ("--recipe", "--resume", "--epochs", "--batch-size", "--center-loss-factor", "--lr", "--amp",
                "--input-size", "--width", "--crop", "--contrastive-weight", "--workers"):
        assert opt in r.stdout, opt


def test_word_targets_skip_function_words(tiny_ds):
    from xmr_core.data import load_karpathy
    from xmr_core.train.samples import word_targets

    spec, images = tiny_ds
    ds = load_karpathy(spec, images).split("train")
    vocab, y = word_targets(ds, 50)
    assert "a" not in vocab and "the" not in vocab and len(vocab) <= 50
    assert y.shape == (len(ds), len(vocab)) and set(y.unique().tolist()) <= {0.0, 1.0}
    # every target word of an image occurs in one of its captions
    from xmr_core.text import tokenize

    for r in range(3):
        words = {w for c in ds.captions_of(ds.images[r].image_id) for w in tokenize(c.text)}
        assert {vocab[j] for j in y[r].nonzero().flatten().tolist()} <= words


def test_config2_batches_and_one_step(tiny_ds, tmp_path):
    """config-2: image + flipped copy + each caption at two crops; text crops never cut a word."""
    from xmr_core.data import load_karpathy
    from xmr_core.text.encoder import TextEncoder
    from xmr_core.recipes import recipe
    from xmr_core.train.samples import ClassSamples, collate

    spec, images = tiny_ds
    enc_cfg, mod, tr = recipe("paper-config2")
    assert (tr.images_per_class, tr.captions_per_class, tr.crop, mod.input_size) == (2, 10, 227, 227)
    assert enc_cfg.layout_size == 227
    enc_cfg = replace(enc_cfg, canvas=96, layout_size=88, superpixel=2, gap=2, margin=3, w2v_epochs=2)
    mod = replace(mod, input_size=88, width=0.125)
    tr = replace(tr, crop=88, epochs=1, classes_per_batch=2, val_every=0, threads=1, max_steps=1)
    ds = load_karpathy(spec, images).split("train")
    encoder = TextEncoder.fit([c.text for c in ds.captions], enc_cfg)
    samples = ClassSamples(ds, encoder, mod, tr)
    x_img, x_txt, k = samples[(0, 0)]
    assert x_img.shape == (2, 3, 88, 88) and x_txt.shape == (10, 3, 88, 88)
    # every word lies inside any crop whose offset is at most the margin: [margin, 88)
    long = " ".join(encoder.kv.index_to_key[:60])
    lay, _ = encoder.layout(long)
    assert lay.placed and max(p.x + p.w for p in lay.placed) <= 88 and max(p.y + p.h for p in lay.placed) <= 88
    assert min(p.x for p in lay.placed) >= enc_cfg.margin
    imgs, il, txts, tl = collate([samples[(0, 0)], samples[(0, 1)]])
    assert il.tolist() == [0, 0, 1, 1] and tl.tolist() == [0] * 10 + [1] * 10
    res = train(tmp_path / "c2", spec, images, enc_cfg, mod, tr, progress=False, recipe_name="paper-config2")
    assert res.steps == 1
    run = load_run(tmp_path / "c2")
    assert run.embedder.text_crop == 88
    assert run.embedder.embed_texts(["a red circle"]).shape == (1, 128)


def test_words_loss_kinds():
    """softmax: CE against the normalised multi-hot; bce: the per-word logistic loss; both minimal at the target."""
    import torch
    import torch.nn.functional as F

    from xmr_core.errors import XmrError
    from xmr_core.losses import words_loss

    y = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    logits = torch.tensor([[2.0, 0.0, -1.0, 0.5], [0.0, 1.0, 0.0, 3.0]])
    expect = -(0.5 * F.log_softmax(logits[0], 0)[:2].sum() + F.log_softmax(logits[1], 0)[3]) / 2
    assert words_loss(logits, y, "softmax").item() == pytest.approx(expect.item(), rel=1e-6)
    assert words_loss(logits, y, "bce").item() == pytest.approx(
        F.binary_cross_entropy_with_logits(logits, y).item(), rel=1e-6)
    good, bad = 10 * (2 * y - 1), -10 * (2 * y - 1)  # logits that agree / disagree with the words
    for kind in ("softmax", "bce"):
        assert words_loss(good, y, kind) < words_loss(logits, y, kind) < words_loss(bad, y, kind)
    with pytest.raises(XmrError):
        words_loss(logits, y, "mse")


def test_words_head_linear_or_with_a_hidden_layer():
    """words_hidden=0: one linear layer on the embedding; > 0: Linear -> ReLU -> Linear of that width;
    either gives one logit a word for each sample, and none is built without words."""
    from torch import nn

    from xmr_core.train.heads import TrainModule

    lin, mlp = TrainModule(MOD, 5, n_words=7), TrainModule(MOD, 5, n_words=7, words_hidden=16)
    assert isinstance(lin.words, nn.Linear) and lin.words.in_features == MOD.embedding_size
    assert [type(m).__name__ for m in mlp.words] == ["Linear", "ReLU", "Linear"]
    assert mlp.words[0].out_features == 16 and mlp.words[2].out_features == 7
    x = torch.randn(3, 3, 80, 80)
    for m in (lin, mlp):
        emb, logits, words = m.eval()(x)
        assert emb.shape == (3, MOD.embedding_size) and logits.shape == (3, 5) and words.shape == (3, 7)
    assert TrainModule(MOD, 5, n_words=0, words_hidden=16).words is None


def test_softmax_weight_zero_drops_the_class_softmax(tiny_ds, tmp_path):
    """softmax_weight=0 trains on center loss + the other terms: the logged loss excludes the CE."""
    import csv

    spec, images = tiny_ds
    tr = replace(TR, epochs=1, val_every=0, softmax_weight=0.0, contrastive_weight=0.0)
    train(tmp_path / "r", spec, images, ENC, MOD, tr, progress=False)
    row = next(csv.DictReader(open(tmp_path / "r" / "train_log.csv")))
    assert float(row["ce"]) > 1.0  # computed and logged ...
    assert float(row["loss"]) == pytest.approx(tr.center_loss_factor * float(row["center"]), rel=1e-4)  # ... not trained on


def test_phrase_positives_and_short_query_losses_train_and_resume_exactly(tiny_ds, tmp_path):
    """Short queries with phrase positives (read through the demo's lexicon), swapped captions and nce-only
    short-query losses, with a DataLoader worker:
    training runs, and a resumed run ends with the same weights and centres as an uninterrupted one."""
    spec, images = tiny_ds
    t = replace(TR, val_every=0, short_queries=0.5, phrase_positives=True, short_query_losses="nce",
                words_weight=1.0, words_hidden=8, workers=1,  # the MLP words head's state resumes too
                binding_negatives=4.0, phrase_lexicon=True, swap_negatives=0.5)  # swapped captions resume too
    full = train(tmp_path / "full", spec, images, ENC, MOD, t, progress=False)
    assert full.steps == 12 and all(torch.isfinite(torch.tensor(row["loss"])) for row in full.log)
    train(tmp_path / "part", spec, images, ENC, MOD, replace(t, max_steps=5), progress=False)
    train(tmp_path / "part", spec, images, resume=True, resume_overrides={"max_steps": 0}, progress=False)
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "part")
    assert all(torch.equal(a[k], b[k]) for k in a)
    ca = torch.load(tmp_path / "full" / "last.pt", weights_only=True)
    cb = torch.load(tmp_path / "part" / "last.pt", weights_only=True)
    assert torch.equal(ca["centers"]["centers"], cb["centers"]["centers"])

