"""The CCA teacher (train/teacher.py): its targets, the distillation term, and training with it."""
from __future__ import annotations

import csv
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from xmr_core.config import TrainConfig
from xmr_core.losses import Batch, CenterLoss, Outputs, training_losses
from xmr_core.train import train

from test_backbones import ENC, LITE, TR, tiny  # noqa: F401,F811 - the tiny generated dataset (module fixture)


def _batch(teacher: torch.Tensor | None, n: int, d: int) -> Batch:
    return Batch(torch.arange(n) % 2, n // 2, CenterLoss(2, d), None, teacher=teacher)


def test_teacher_term_is_one_minus_cosine_and_pulls_toward_the_target():
    torch.manual_seed(0)
    d, n = 8, 6
    target = torch.nn.functional.normalize(torch.randn(n, d), dim=1)
    cfg = TrainConfig(softmax_weight=0.0, center_loss_factor=0.0, teacher_weight=1.0)
    same = training_losses(Outputs(3.0 * target, None, None), _batch(target, n, d), cfg)  # scale does not matter
    assert same["teacher"].item() == pytest.approx(0.0, abs=1e-6)
    opposite = training_losses(Outputs(-target, None, None), _batch(target, n, d), cfg)
    assert opposite["teacher"].item() == pytest.approx(2.0, abs=1e-6)
    emb = torch.randn(n, d, requires_grad=True)
    losses = training_losses(Outputs(emb, None, None), _batch(target, n, d), cfg)
    losses["loss"].backward()
    with torch.no_grad():
        after = training_losses(Outputs(emb - 0.1 * emb.grad, None, None), _batch(target, n, d), cfg)
    assert after["teacher"] < losses["teacher"]
    # captions (the rows after the photos) weighted teacher_text_mult times the photos
    miss = 1.0 - (torch.nn.functional.normalize(emb.detach(), dim=1) * target).sum(1)
    k = n // 2  # _batch: the first half are photos
    text3 = training_losses(Outputs(emb.detach(), None, None), _batch(target, n, d), replace(cfg, teacher_text_mult=3.0))
    assert text3["teacher"].item() == pytest.approx(((miss[:k].sum() + 3 * miss[k:].sum()) / n).item(), rel=1e-5)
    # off: no term at weight 0, nor without targets
    assert "teacher" not in training_losses(Outputs(emb, None, None), _batch(target, n, d),
                                            replace(cfg, teacher_weight=0.0, center_loss_factor=0.01))
    assert "teacher" not in training_losses(Outputs(emb, None, None), _batch(None, n, d),
                                            replace(cfg, center_loss_factor=0.01))


@pytest.fixture(scope="module")
def fitted(tiny):
    from xmr_core.data.loaders import load_karpathy
    from xmr_core.train.teacher import CCATeacher

    spec, images = tiny
    ds = load_karpathy(spec, images).split("train")
    return ds, CCATeacher.fit(ds, dim=16, image_size=64, progress=False)


def test_teacher_targets_are_the_references_vectors_in_batch_order(fitted):
    from xmr_core.network.cca_encoder import load_trunk

    ds, teacher = fitted
    assert teacher.images.shape == (len(ds), 16) and teacher.dim == 16
    assert torch.allclose(teacher.images.norm(dim=1), torch.ones(len(ds)), atol=1e-5)
    # the photos' vectors are the reference's own embedding of those photos, row k = class k
    enc = teacher.encoder
    enc._trunk = load_trunk()
    rows = [3, 0]
    want = enc.embed_images([ds.load_image(ds.images[k].image_id) for k in rows])
    texts = [ds.captions_of(ds.images[3].image_id)[0].text, "a red circle"]
    got = teacher.targets(torch.tensor(rows), texts)
    assert got.shape == (4, 16)
    assert np.allclose(got[:2].numpy(), want, atol=2e-3)
    assert np.allclose(got[2:].numpy(), enc.embed_texts(texts), atol=1e-6)


def test_cached_samples_carry_their_caption_texts_when_asked(tiny, small_encoder):
    from xmr_core.data.loaders import load_karpathy
    from xmr_core.network.backbones import build_network
    from xmr_core.train.frozen_cache import CachedClassSamples
    from xmr_core.train.samples import collate

    spec, images = tiny
    ds = load_karpathy(spec, images).split("train")
    net = build_network(LITE).eval()
    plain = CachedClassSamples(ds, small_encoder, net, LITE, replace(TR, cache_frozen=True), progress=False)
    assert len(plain[(0, 5)]) == 3  # the plain form unless a teacher asks
    samples = CachedClassSamples(ds, small_encoder, net, LITE, replace(TR, cache_frozen=True, teacher_weight=1.0),
                                 progress=False)
    x_img, x_txt, k, texts, short = samples[(0, 5)]
    own = {c.text for c in ds.captions_of(ds.images[5].image_id)}
    assert k == 5 and len(texts) == x_txt.shape[0] == 3 and set(texts) <= own and short == [False] * 3
    # each text is the one whose painting is cached in that row
    flat = samples.texts
    for row, text in zip(x_txt, texts):
        assert any(torch.equal(row, samples.captions[i].float()) for i, t in enumerate(flat) if t == text)
    batch = collate([samples[(0, 5)], samples[(0, 2)]])
    assert batch[4]["texts"] == texts + samples[(0, 2)][3]


@pytest.mark.parametrize("cached", [True, False], ids=["cached", "pixels"])
def test_training_with_the_teacher_logs_its_term(tiny, tmp_path, cached):
    spec, images = tiny
    tcfg = replace(TR, cache_frozen=cached, teacher_weight=1.0, teacher_image_size=64, max_steps=0)
    mcfg = replace(LITE, embedding_size=16)
    res = train(tmp_path / "run", spec, images, ENC, mcfg, tcfg, progress=False)
    assert res.steps > 0 and res.epochs_done == 1  # a whole epoch: its log row
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["teacher"]["dim"] == 16 and cfg["teacher"]["image_size"] == 64
    assert cfg["train"]["teacher_weight"] == 1.0
    rows = list(csv.DictReader((tmp_path / "run" / "train_log.csv").open()))
    assert rows and 0.0 < float(rows[-1]["teacher"]) < 2.0


# ---- the cca painted word vectors (EncodingConfig.word_vectors, docs/METHOD.md §1b) ------------------------
def test_cca_word_vectors_average_to_the_references_text_vectors(fitted):
    from xmr_core.errors import XmrError
    from xmr_core.network.cca_encoder import mean_vectors
    from xmr_core.network.cca_fit import cca_word_vectors

    ds, teacher = fitted
    enc = teacher.encoder
    kv = cca_word_vectors(enc, 6)
    assert kv.vector_size == 6 and list(kv.index_to_key) == list(enc.kv.index_to_key)
    texts = [c.text for c in ds.captions[:20]] + ["a red circle"]
    # a caption's mean painted vector is, up to one constant, the reference's own (unnormalised) text
    # vector in its first 6 directions: the reference's text side is an average of what is painted
    painted = mean_vectors(kv, texts) - enc.mean_y @ enc.w_y[:, :6]
    ref = (mean_vectors(enc.kv, texts).astype(np.float64) - enc.mean_y) @ enc.w_y[:, :6]
    assert np.allclose(painted, ref, atol=1e-4 * np.abs(ref).max())
    assert not np.allclose(ref[0], ref[1])  # the captions differ (the check is not vacuous)
    with pytest.raises(XmrError, match="at most 16"):
        cca_word_vectors(enc, 17)


def test_a_caption_only_fit_refuses_the_cca_word_vectors():
    from xmr_core.config import EncodingConfig
    from xmr_core.errors import XmrError
    from xmr_core.text.encoder import TextEncoder

    with pytest.raises(XmrError, match="fitted in training"):
        TextEncoder.fit(["a red circle", "a blue square"], EncodingConfig(word_vectors="cca"))


def test_training_paints_the_cca_word_vectors_it_fitted(tiny, tmp_path, fitted):
    from xmr_core.errors import XmrError
    from xmr_core.network.cca_fit import cca_word_vectors
    from xmr_core.text.encoder import TextEncoder

    spec, images = tiny
    enc_cfg = replace(ENC, word_vectors="cca", block_w=2, block_h=2, vector_size=12)
    tcfg = replace(TR, cache_frozen=True, teacher_image_size=64)  # no teacher: the words alone ask for the fit
    mcfg = replace(LITE, embedding_size=16)
    res = train(tmp_path / "run", spec, images, enc_cfg, mcfg, tcfg, progress=False)
    assert res.steps > 0
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["encoding"]["word_vectors"] == "cca" and "teacher" not in cfg
    assert cfg["word_vectors"]["image_size"] == 64 and cfg["word_vectors"]["fit_seconds"] > 0
    # the bundle's vectors are the reference's (the same fit as the teacher's: same split, size and seed)
    saved = TextEncoder.load(tmp_path / "run")
    want = cca_word_vectors(fitted[1].encoder, 12)
    assert saved.kv.vector_size == 12 and list(saved.kv.index_to_key) == list(want.index_to_key)
    assert "CCA reference" in saved.cfg.vectors_name and ENC.vectors_name == "Word2Vec vector"  # the page's words
    assert np.allclose(saved.kv.vectors, want.vectors, atol=1e-4 * np.abs(want.vectors).max())
    with pytest.raises(XmrError, match="at most 16"):
        train(tmp_path / "wide", spec, images, replace(enc_cfg, block_w=3, vector_size=18), mcfg, tcfg,
              progress=False)
