"""Tokeniser, word vectors and the caption -> image encoder."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors

from xmr_core.config import EncodingConfig
from xmr_core.errors import EncodingError, XmrError
from xmr_core.text import tokenize
from xmr_core.text.encoder import TextEncoder
from xmr_core.text.vectors import load_vectors, save_vectors, train_word2vec

ROOT = Path(__file__).resolve().parents[1]


def _kv(words: list[str], dim: int = 36, seed: int = 0) -> KeyedVectors:
    kv = KeyedVectors(dim)
    kv.add_vectors(words, np.random.default_rng(seed).normal(size=(len(words), dim)).astype(np.float32))
    return kv


def test_tokenize():
    assert tokenize("A Man's dog, running!") == ["a", "mans", "dog", "running"]
    assert tokenize("Café déjà-vu") == ["café", "déjà", "vu"]
    assert tokenize("🐶 dog 🐶") == ["dog"]
    assert tokenize("日本") == ["日", "本"]
    assert tokenize("   ") == []


def test_layout_geometry_defaults():
    c = EncodingConfig()
    assert c.block_px == (16, 12)
    assert c.words_per_row == 12  # SPEC: 12 words a row at 256 px
    with pytest.raises(ValueError, match="vector_size"):
        EncodingConfig(vector_size=30)


def test_encode_shape_colours_and_positions():
    kv = _kv(["a", "dog", "runs"])
    enc = TextEncoder(kv, EncodingConfig())
    img, lay = enc.encode("A dog runs")
    assert img.shape == (256, 256, 3) and img.dtype == np.uint8
    assert [p.word for p in lay.placed] == ["a", "dog", "runs"]
    first, second = lay.placed[0], lay.placed[1]
    assert (first.x, first.y) == (4, 4) and second.x == 4 + 16 + 4
    # each superpixel is a flat 4x4 colour equal to the scaled vector triple
    v = kv["dog"]
    scaled = np.clip((v - enc.lo) / (enc.hi - enc.lo), 0, 1) * 255
    sp = img[second.y:second.y + 4, second.x:second.x + 4]
    assert (sp == sp[0, 0]).all()
    np.testing.assert_allclose(sp[0, 0], scaled[:3].round(), atol=1)
    assert (img[100:, :] == 255).all()  # rest of the canvas stays white


def test_encode_deterministic_and_sentence_independent():
    kv = _kv(["a", "dog", "cat"])
    enc = TextEncoder(kv)
    a, _ = enc.encode("a dog")
    b, _ = enc.encode("a dog")
    assert (a == b).all()
    c, lay = enc.encode("cat dog")  # "dog" has the same colours in another sentence
    pa = enc.layout("a dog")[0].placed[1]
    pc = lay.placed[1]
    assert (a[pa.y:pa.y + pa.h, pa.x:pa.x + pa.w] == c[pc.y:pc.y + pc.h, pc.x:pc.x + pc.w]).all()


def test_oov_and_overflow():
    kv = _kv(["w"])
    cfg = EncodingConfig(canvas=64, superpixel=2, gap=2, margin=2)
    enc = TextEncoder(kv, cfg)
    cap = cfg.capacity
    img, lay = enc.encode("zebra " + "w " * (cap + 3))
    assert lay.oov == ["zebra"]
    assert len(lay.placed) == cap and lay.dropped == ["w"] * 3
    with pytest.raises(EncodingError, match="empty"):
        enc.encode("  ", strict=True)
    with pytest.raises(EncodingError, match="vocabulary"):
        enc.encode("zebra giraffe", strict=True)
    blank, _ = enc.encode("zebra")  # not strict: blank canvas, no crash
    assert (blank == 255).all()


def test_batch_equals_single():
    kv = _kv(["a", "b", "c", "d"])
    enc = TextEncoder(kv)
    sents = ["a b c", "d", "", "x y", "c c c c a"]
    batch = enc.encode_batch(sents)
    for s, img in zip(sents, batch):
        assert (enc.encode(s)[0] == img).all()


def test_scaling_is_fitted_once_and_saved(tmp_path):
    kv = _kv(["a", "b", "c"])
    enc = TextEncoder(kv)
    np.testing.assert_allclose(enc.lo, kv.vectors.min(0))
    np.testing.assert_allclose(enc.hi, kv.vectors.max(0))
    enc.save(tmp_path)
    back = TextEncoder.load(tmp_path)
    np.testing.assert_allclose(back.lo, enc.lo)
    assert (back.encode("a b")[0] == enc.encode("a b")[0]).all()
    assert not list(tmp_path.glob("*.pkl"))


def test_word2vec_training_deterministic():
    caps = ["a red circle on the left", "a blue square on the right", "a red square in the middle"] * 20
    cfg = EncodingConfig(w2v_epochs=3)
    a, b = train_word2vec(caps, cfg), train_word2vec(caps, cfg)
    assert a.vector_size == 36 and "circle" in a
    np.testing.assert_array_equal(a["red"], b["red"])


def test_user_vectors_text_and_binary(tmp_path):
    kv = _kv(["hello", "world"], dim=10)
    save_vectors(kv, tmp_path / "v.bin")
    kv.save_word2vec_format(str(tmp_path / "v.txt"), binary=False)
    for p in ("v.bin", "v.txt"):
        got = load_vectors(tmp_path / p)
        np.testing.assert_allclose(got["hello"], kv["hello"], rtol=1e-5)
    enc = TextEncoder(load_vectors(tmp_path / "v.txt"))  # 10-d: block shape derived (4 superpixels)
    img, lay = enc.encode("hello world")
    assert len(lay.placed) == 2
    (tmp_path / "junk.bin").write_bytes(b"\x00\x01garbage")
    with pytest.raises(XmrError):
        load_vectors(tmp_path / "junk.bin")


def test_cli_encode(tmp_path):
    kv = _kv(["a", "dog", "runs", "on", "the", "beach"])
    save_vectors(kv, tmp_path / "v.bin")
    out = tmp_path / "dog.png"
    r = subprocess.run([sys.executable, "-m", "xmr_core", "encode", "a dog runs on the beach zzz",
                        "--vectors", str(tmp_path / "v.bin"), "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert out.is_file() and "beach" in r.stdout and "zzz" in r.stdout
    r = subprocess.run([sys.executable, "-m", "xmr_core", "encode", "zzz qqq", "--vectors", str(tmp_path / "v.bin"),
                        "--out", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and "vocabulary" in r.stderr and "Traceback" not in r.stderr


def test_colour_range_spreads_colours_and_is_saved(tmp_path):
    """colour_range=k scales each dimension to mean +- k std (outliers clip), so typical words use
    more of the 0..255 range than min-max does; the fitted range travels with the run."""
    words = [f"w{i}" for i in range(400)]
    kv = _kv(words)
    kv.vectors[0] *= 12.0  # one outlier word stretches min-max for every dimension
    paper = TextEncoder(kv, EncodingConfig())
    ours = TextEncoder(kv, EncodingConfig(colour_range=2.0))
    np.testing.assert_allclose(ours.lo, kv.vectors.mean(0) - 2 * kv.vectors.std(0), rtol=1e-5, atol=1e-5)
    typical = kv.vectors[1:]
    spread = lambda e: e.colours(typical).reshape(len(typical), -1).astype(float).std(0).mean()
    assert spread(ours) > 1.5 * spread(paper)  # measured 57 vs 29 levels
    assert ours.colours(kv.vectors[:1]).max() == 255 and ours.colours(kv.vectors[:1]).min() == 0  # clipped
    ours.save(tmp_path)
    back = TextEncoder.load(tmp_path)
    assert back.cfg.colour_range == 2.0
    assert (back.encode("w1 w2 w3")[0] == ours.encode("w1 w2 w3")[0]).all()
