"""InceptionResNet-V1, preprocessing and the Embedder (xmr_core/model.py)."""
from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from xmr_core.config import ModelConfig
from xmr_core.network.inference import Embedder, preprocess_images
from xmr_core.network.model import InceptionResNetV1, count_parameters

torch.set_num_threads(min(2, torch.get_num_threads()))


def small_cfg(**kw) -> ModelConfig:
    base = dict(width=0.25, input_size=80, embedding_size=32, blocks=(1, 1, 1))
    base.update(kw)
    return ModelConfig(**base)


# ----------------------------------------------------------------------------- facenet-pytorch reference

def load_facenet_reference():
    """facenet-pytorch's ``models/inception_resnet_v1.py`` alone, or None if not installed.

    Its package ``__init__`` imports MTCNN (cv2 ...), so we load just this file under a
    private package name, with a stub for the relative ``.utils.download`` import (only
    used to fetch pretrained weights) and, if absent, for ``requests``.
    """
    name = "_xmr_facenet_ref"
    if f"{name}.inception_resnet_v1" in sys.modules:
        return sys.modules[f"{name}.inception_resnet_v1"]
    top = importlib.util.find_spec("facenet_pytorch")  # does not run the package __init__
    if top is None or not top.submodule_search_locations:
        return None
    path = Path(list(top.submodule_search_locations)[0]) / "models" / "inception_resnet_v1.py"
    if not path.is_file():
        return None
    for mod_name, attrs in ((name, {}), (f"{name}.utils", {}),
                            (f"{name}.utils.download", {"download_url_to_file": _no_download})):
        mod = types.ModuleType(mod_name)
        mod.__path__ = []  # a package, so relative imports resolve
        mod.__dict__.update(attrs)
        sys.modules.setdefault(mod_name, mod)
    try:
        import requests  # noqa: F401
        import requests.adapters  # noqa: F401
    except ImportError:
        req = types.ModuleType("requests")
        req.adapters = types.ModuleType("requests.adapters")
        req.adapters.HTTPAdapter = object
        sys.modules.setdefault("requests", req)
        sys.modules.setdefault("requests.adapters", req.adapters)
    spec = importlib.util.spec_from_file_location(f"{name}.inception_resnet_v1", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _no_download(*args, **kwargs):
    raise RuntimeError("downloads are disabled in tests")


@pytest.fixture(scope="module")
def facenet():
    mod = load_facenet_reference()
    if mod is None:
        pytest.skip("facenet-pytorch not installed (pip install --no-deps facenet-pytorch==2.6.0)")
    return mod


def structure(model: torch.nn.Module) -> list[tuple[str, str]]:
    """(name, class name) of every submodule (the root's own class name differs in case)."""
    return [(n, type(m).__name__) for n, m in model.named_modules() if n]


# ----------------------------------------------------------------------------- network

@pytest.mark.parametrize("size", [75, 96, 160])
def test_output_shapes(size):
    torch.manual_seed(0)
    m = InceptionResNetV1(small_cfg(input_size=max(size, 75))).eval()
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        feats = m.forward_features(x)
        out = m(x)
        emb = m.embed(x)
    assert feats.shape == (2, m.feature_dim)
    assert out.shape == (2, 32) and emb.shape == (2, 32)
    assert torch.allclose(emb.norm(dim=1), torch.ones(2), atol=1e-5)


def test_too_small_input_rejected():
    m = InceptionResNetV1(small_cfg()).eval()
    with pytest.raises(ValueError, match="75"):
        m(torch.randn(1, 3, 74, 74))
    with pytest.raises(ValueError):
        ModelConfig(input_size=64)


def test_full_width_parameter_count():
    m = InceptionResNetV1(ModelConfig())  # the paper's network: width 1, 128-d head
    n = count_parameters(m)
    assert n == 22_793_728  # SPEC §2: about 22.8 M
    assert m.feature_dim == 1792
    assert count_parameters(InceptionResNetV1(ModelConfig(embedding_size=512))) == 23_482_624


def test_width_and_blocks_scale():
    full = InceptionResNetV1(ModelConfig(width=0.5, blocks=(2, 3, 1)))
    assert full.feature_dim == 896
    assert len(full.repeat_1) == 2 and len(full.repeat_2) == 3 and len(full.repeat_3) == 1
    assert full.repeat_2[0].scale == pytest.approx(0.10)
    assert count_parameters(full) < 22_793_728 / 3


def test_train_backward_and_eval_determinism():
    torch.manual_seed(0)
    m = InceptionResNetV1(small_cfg())
    x = torch.randn(4, 3, 80, 80)
    m.train()
    m(x).pow(2).mean().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.eval()
    with torch.no_grad():
        a, b = m.embed(x), m.embed(x)
    assert torch.equal(a, b)  # dropout off, BN running stats: deterministic


# ----------------------------------------------------------------------------- facenet-pytorch comparison

def test_matches_facenet_structure_and_params(facenet):
    ref = facenet.InceptionResnetV1(pretrained=None, classify=False)
    ours = InceptionResNetV1(ModelConfig(embedding_size=512, width=1.0))
    assert structure(ours) == structure(ref)
    n_ours, n_ref = count_parameters(ours), count_parameters(ref)
    assert abs(n_ours - n_ref) / n_ref < 0.01
    assert n_ours == n_ref
    # identical state_dict layout: facenet's weights load strictly
    ours.load_state_dict(ref.state_dict(), strict=True)


@pytest.mark.slow
def test_matches_facenet_forward(facenet):
    torch.manual_seed(0)
    ref = facenet.InceptionResnetV1(pretrained=None, classify=False).eval()
    ours = InceptionResNetV1(ModelConfig(embedding_size=512, width=1.0, input_size=96)).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        r, o = ref(x), ours.embed(x)
    assert r.shape == o.shape == (2, 512)
    assert torch.allclose(r, o, atol=1e-5)


@pytest.mark.slow
def test_training_step_matches_facenet_in_float64(facenet):
    """A training-mode step (batch statistics, backward) equals facenet-pytorch's, gradients and BatchNorm running
    statistics included (the eval-mode forward test alone would miss a change to training's path). In float64, so
    that equal maths shows as equal numbers."""
    torch.manual_seed(0)
    ref = facenet.InceptionResnetV1(pretrained=None, classify=False).double().train()
    ours = InceptionResNetV1(ModelConfig(embedding_size=512, width=1.0, input_size=96, dropout_keep=1.0)).double().train()
    ref.dropout.p = 0.0  # facenet's dropout (keep 0.6) draws at random: off on both sides
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(3, 3, 96, 96, dtype=torch.float64)
    r, o = ref(x), ours(x)
    assert torch.allclose(F.normalize(r), F.normalize(o), atol=1e-10)
    g = torch.randn_like(r)
    (F.normalize(r) * g).sum().backward()
    (F.normalize(o) * g).sum().backward()
    ref_params = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        assert torch.allclose(p.grad, ref_params[name].grad, atol=1e-9, rtol=1e-7), name
    ref_buffers = dict(ref.named_buffers())
    for name, b in ours.named_buffers():
        assert torch.allclose(b.double(), ref_buffers[name].double(), atol=1e-12), name


# ----------------------------------------------------------------------------- preprocessing

def _random_uint8(n, h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


def test_preprocess_same_size_consistent_across_input_types():
    arr = _random_uint8(3, 80, 80)
    from_arr = preprocess_images(arr, 80)
    from_pil = preprocess_images([Image.fromarray(a) for a in arr], 80)
    from_u8 = preprocess_images(torch.from_numpy(arr), 80)
    from_nchw = preprocess_images(torch.from_numpy(arr).permute(0, 3, 1, 2).float(), 80)
    assert from_arr.shape == (3, 3, 80, 80) and from_arr.dtype == torch.float32
    for other in (from_pil, from_u8, from_nchw):
        assert torch.equal(from_arr, other)
    expected = (torch.from_numpy(arr).permute(0, 3, 1, 2).float() - 127.5) / 128.0
    assert torch.allclose(from_arr, expected)


def test_preprocess_resize_pil_vs_array_close():
    # smooth image so bilinear variants agree closely
    yy, xx = np.mgrid[0:120, 0:150]
    img = np.stack([xx * 255 / 149, yy * 255 / 119, (xx + yy) * 255 / 268], -1).astype(np.uint8)
    a = preprocess_images(img[None], 96)
    p = preprocess_images(Image.fromarray(img), 96)
    assert a.shape == p.shape == (1, 3, 96, 96)
    assert (a - p).abs().max().item() < 3 / 128  # within a few grey levels


def test_preprocess_grayscale_pil_and_standardize():
    g = Image.fromarray(np.full((90, 90), 200, np.uint8), mode="L")
    x = preprocess_images([g], 80)
    assert x.shape == (1, 3, 80, 80)
    arr = _random_uint8(2, 80, 80, seed=1)
    s = preprocess_images(arr, 80, standardize=True)
    flat = s.reshape(2, -1)
    assert torch.allclose(flat.mean(1), torch.zeros(2), atol=1e-4)
    assert torch.allclose(flat.std(1, unbiased=False), torch.ones(2), atol=1e-4)
    # a constant image: std floored at 1/sqrt(numel), no division by zero
    c = preprocess_images(np.full((1, 80, 80, 3), 255, np.uint8), 80, standardize=True)
    assert torch.isfinite(c).all() and c.abs().max() == 0


# ----------------------------------------------------------------------------- embedder

class TinyPainter:
    """Stand-in text encoder: a deterministic uint8 canvas per sentence."""

    def __init__(self, canvas: int = 96):
        self.canvas = canvas

    def encode_batch(self, sentences):
        out = np.full((len(sentences), self.canvas, self.canvas, 3), 255, np.uint8)
        for i, s in enumerate(sentences):
            rng = np.random.default_rng(list(s.encode()))  # seeded by the sentence's bytes
            n = min(len(s.split()), 8)
            out[i, 4:16, 4:4 + 10 * n] = rng.integers(0, 256, (12, 10 * n, 3), dtype=np.uint8)
        return out


def test_embedder_texts_images_encoded():
    torch.manual_seed(0)
    cfg = small_cfg()
    enc = TinyPainter()
    emb = Embedder.build(cfg, text_encoder=enc, device="cpu")
    sents = ["a dog runs", "two cats sleep on a sofa", "a red car", "a dog runs"]
    seen = []
    t = emb.embed_texts(sents, batch_size=3, progress=lambda d, n: seen.append((d, n)))
    assert t.shape == (4, 32) and t.dtype == np.float32
    assert np.allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-5)
    assert np.allclose(t[0], t[3], atol=1e-6)  # same sentence, same vector
    assert seen == [(3, 4), (4, 4)]
    # texts == encoded path, batch size does not matter (eval mode)
    e = emb.embed_encoded(enc.encode_batch(sents), batch_size=4)
    assert np.allclose(t, e, atol=1e-5)
    # images: PIL list, array and tensor agree
    arr = _random_uint8(3, 80, 80, seed=2)
    i1 = emb.embed_images([Image.fromarray(a) for a in arr], batch_size=2)
    i2 = emb.embed_images(arr)
    i3 = emb.embed_images(torch.from_numpy(arr))
    assert i1.shape == (3, 32)
    assert np.allclose(i1, i2, atol=1e-5) and np.allclose(i2, i3, atol=1e-5)
    assert emb.embed_images([]).shape == (0, 32)
    # mode restored after embedding
    emb.model.train()
    emb.embed_images(arr[:1])
    assert emb.model.training


def test_embedder_without_text_encoder_errors():
    emb = Embedder.build(small_cfg(), device="cpu")
    with pytest.raises(ValueError, match="text_encoder"):
        emb.embed_texts(["a dog"])


def test_channels_last_auto_follows_the_cpu(monkeypatch):
    """auto NHWC: on CUDA, and on CPUs with native bf16 (where it measured faster); never otherwise.
    Embedding results do not depend on the memory format."""
    import xmr_core.network.inference as m
    from xmr_core.config import TrainConfig
    from xmr_core.network.model import InceptionResNetV1
    from xmr_core.train.precision import use_channels_last as _use_channels_last

    cfg = ModelConfig(input_size=80, width=0.125)
    net = InceptionResNetV1(cfg).eval()
    x = torch.rand(2, 3, 80, 80)
    outs = {}
    for native in (False, True):
        monkeypatch.setattr(m, "cpu_has_native_bf16", lambda native=native: native)
        assert m.prefer_channels_last(torch.device("cpu")) is native
        assert m.prefer_channels_last(torch.device("cuda")) is True
        assert _use_channels_last(TrainConfig(channels_last="auto"), torch.device("cpu")) is native
        assert _use_channels_last(TrainConfig(channels_last="off"), torch.device("cpu")) is False
        e = m.Embedder(net, cfg=cfg, device="cpu", amp=False)  # the memory format alone
        assert e.channels_last is native
        assert e.model.conv2d_1a.conv.weight.is_contiguous(memory_format=torch.channels_last) is native
        outs[native] = e._run(x)
    torch.testing.assert_close(outs[False], outs[True], rtol=1e-4, atol=1e-5)


def test_import_sets_passive_openmp_wait_unless_the_user_chose():
    """`import xmr_core` sets OMP_WAIT_POLICY=PASSIVE (spinning threads collapsed under load), not over a user's value."""
    import os
    import subprocess
    import sys

    code = "import os, xmr_core; print(os.environ.get('OMP_WAIT_POLICY'))"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "PASSIVE"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**env, "OMP_WAIT_POLICY": "ACTIVE"}, check=True)
    assert out.stdout.strip() == "ACTIVE"


def test_inference_precision_and_batch_follow_the_measurements(monkeypatch):
    """amp="auto": bf16 for InceptionResNet-V1 where bf16 is native (CPU or GPU), fp32 for Lite0 and elsewhere."""
    import xmr_core.network.inference as m

    irv1 = ModelConfig(input_size=80, width=0.125)
    lite0 = ModelConfig(backbone="efficientnet_lite0", pretrained=False, input_size=64)
    for native in (False, True):
        monkeypatch.setattr(m, "cpu_has_native_bf16", lambda native=native: native)
        assert m.inference_precision(irv1, torch.device("cpu")) is native
        assert m.inference_precision(lite0, torch.device("cpu")) is False
        for gpu_bf16 in (False, True):  # CUDA: bf16 only where the GPU computes it (not emulated)
            monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True, b=gpu_bf16: b)
            assert m.inference_precision(irv1, torch.device("cuda")) is gpu_bf16
        e = m.Embedder(InceptionResNetV1(irv1), cfg=irv1, device="cpu")
        assert e.amp is native and e.batch_size == (32 if native else 8)
    assert m.inference_batch_size(lite0, torch.device("cpu"), False) == 16
    assert m.Embedder(InceptionResNetV1(irv1), cfg=irv1, amp=False, batch_size=5).batch_size == 5
    with pytest.raises(ValueError, match="amp"):
        m.Embedder(InceptionResNetV1(irv1), cfg=irv1, amp="fast")


def test_prefetching_the_next_batch_changes_nothing():
    """Batches prepared in a thread come back in order and give the same vectors as one by one."""
    torch.manual_seed(0)
    cfg = small_cfg()
    enc = TinyPainter()
    sents = [f"a dog number {i} runs " + "far " * (i % 5) for i in range(23)]
    arr = _random_uint8(11, 80, 80, seed=3)
    net = InceptionResNetV1(cfg)
    out = {}
    for prefetch in (False, True):  # one network, embedded both ways
        emb = Embedder(net, enc, cfg, amp=False, batch_size=4, prefetch=prefetch)
        out[prefetch] = (emb.embed_texts(sents), emb.embed_images(arr))
    np.testing.assert_array_equal(out[False][0], out[True][0])
    np.testing.assert_array_equal(out[False][1], out[True][1])
    assert not np.allclose(out[True][0][0], out[True][0][1])  # distinct sentences, distinct vectors


def test_a_failing_batch_preparation_raises_and_restores_the_mode():
    class Broken(TinyPainter):
        def encode_batch(self, sentences):
            if any("boom" in s for s in sentences):
                raise RuntimeError("cannot paint")
            return super().encode_batch(sentences)

    cfg = small_cfg()
    emb = Embedder(InceptionResNetV1(cfg), Broken(), cfg, amp=False, batch_size=2)
    emb.model.train()
    with pytest.raises(RuntimeError, match="cannot paint"):
        emb.embed_texts(["a dog", "a cat", "a boom", "a car", "a bus"])
    assert emb.model.training
