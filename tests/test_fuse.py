"""BatchNorm folded into the layer before it (xmr_core/network/fuse.py): the same embeddings as
the unfolded network, the original untouched, and a copy that follows the weights as they train."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from xmr_core.config import ModelConfig
from xmr_core.network.backbones import build_network
from xmr_core.network.fuse import fold_batchnorm
from xmr_core.network.inference import Embedder

NETS = {
    "inception_resnet_v1": ModelConfig(input_size=80, width=0.25, blocks=(1, 1, 1)),
    "efficientnet_lite0": ModelConfig(backbone="efficientnet_lite0", pretrained=False, input_size=64),
}


def _with_moved_statistics(net: nn.Module, seed: int = 0) -> nn.Module:
    """Random BatchNorm statistics and affine terms, so that folding is not the identity."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=g) - 0.5)
    return net


@pytest.mark.parametrize("backbone", list(NETS))
def test_folded_copy_embeds_as_the_network_does(backbone):
    torch.manual_seed(0)
    cfg = NETS[backbone]
    net = _with_moved_statistics(build_network(cfg, load_pretrained=False)).train()
    x = torch.randn(4, 3, cfg.input_size, cfg.input_size)
    folded = fold_batchnorm(net)
    n_bn = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in folded.modules())
    assert n_bn == 0, f"{n_bn} BatchNorm layers left unfolded"
    assert net.training and any(isinstance(m, nn.BatchNorm2d) for m in net.modules()), "the original was changed"
    with torch.no_grad():
        want = net.eval().embed(x)
        got = folded.embed(x)
    # fp32: folding re-associates one multiply-add a layer; the differences are rounding only
    assert torch.allclose(got, want, atol=2e-5), (got - want).abs().max()


def test_embedder_follows_the_weights_it_was_given():
    """A trainer validates mid-run with the same Embedder: after an optimiser step the folded copy
    is rebuilt, so the embeddings equal the unfolded network's at every point."""
    torch.manual_seed(0)
    cfg = NETS["inception_resnet_v1"]
    net = _with_moved_statistics(build_network(cfg))
    images = np.random.default_rng(0).integers(0, 255, (3, 80, 80, 3), dtype=np.uint8)
    folded = Embedder(net, cfg=cfg, amp=False, channels_last=False)
    plain = Embedder(net, cfg=cfg, amp=False, channels_last=False, fold_bn=False)
    before = folded.embed_images(images)
    np.testing.assert_allclose(before, plain.embed_images(images), atol=2e-5)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    net.train()
    net(torch.randn(4, 3, 80, 80)).square().sum().backward()
    opt.step()  # weights and BatchNorm statistics both move, in place
    after = folded.embed_images(images)
    assert np.abs(after - before).max() > 1e-3, "the folded copy did not follow the weights"
    np.testing.assert_allclose(after, plain.embed_images(images), atol=2e-5)
    assert net.training, "the Embedder restores the network's mode"
