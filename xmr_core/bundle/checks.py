"""A bundle is checked, not trusted: the network a config asks for is sized before anything is
allocated, and every tensor of ``model.pt`` is checked against that network (name, shape, dtype,
finite values) before it is loaded.

The size comes from building the network on PyTorch's ``meta`` device (shapes only, no memory)
and running one image through it there: parameters are counted exactly, and the activation
values a forward pass produces at the configured input are summed over the leaf modules.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import RunError

# The paper's network (width 1.0, 256 px) has 22.8 M parameters and makes 24.4 M activation values
# for one image; at 1024 px it makes ~390 M. The bounds leave room for any sensible config (width 3,
# 1024 px) and refuse the absurd ones (width 4 at 1024 px with 50-block stages: 2.0 G parameters,
# 7.9 G activation values, tens of GB) before a byte is allocated.
MAX_PARAMETERS = 250_000_000
MAX_ACTIVATIONS = 1 << 30


def meta_network(model_cfg) -> torch.nn.Module:
    """The network ``model_cfg`` describes, on the meta device (no memory)."""
    from ..network.backbones import build_network

    with torch.device("meta"):
        return build_network(model_cfg, load_pretrained=False)


def network_size(model_cfg) -> tuple[torch.nn.Module, int, int]:
    """(meta network, parameter + buffer values, activation values of one image's forward pass)."""
    net = meta_network(model_cfg)
    n_params = sum(t.numel() for t in net.state_dict().values())
    acts = [0]

    def count(_m, _i, out) -> None:
        if isinstance(out, torch.Tensor):
            acts[0] += out.numel()

    hooks = [m.register_forward_hook(count) for m in net.modules() if not any(True for _ in m.children())]
    try:
        net.eval()
        if n_params <= MAX_PARAMETERS:  # else the forward is not needed to refuse it
            with torch.no_grad():
                net(torch.empty(1, 3, model_cfg.input_size, model_cfg.input_size, device="meta"))
    finally:
        for h in hooks:
            h.remove()
    return net, n_params, acts[0]


def check_network_size(model_cfg, where: Path | str) -> torch.nn.Module:
    """Refuse a config whose network is beyond the bounds; returns the meta network (its shapes)."""
    net, n_params, n_acts = network_size(model_cfg)
    what = (f"backbone {model_cfg.backbone}, width {model_cfg.width}, input {model_cfg.input_size} px, "
            f"embedding {model_cfg.embedding_size}, blocks {tuple(model_cfg.blocks)}")
    if n_params > MAX_PARAMETERS:
        raise RunError(f"{where}: the network it describes ({what}) has {n_params:,} parameters; the limit is "
                       f"{MAX_PARAMETERS:,} (refused before allocating anything)")
    if n_acts > MAX_ACTIVATIONS:
        raise RunError(f"{where}: the network it describes ({what}) makes {n_acts:,} activation values for one "
                       f"image; the limit is {MAX_ACTIVATIONS:,} (refused before allocating anything)")
    return net


def check_state_dict(sd: dict[str, torch.Tensor], net: torch.nn.Module, path: Path) -> None:
    """Every tensor of ``sd`` against the (meta) network: names, shapes, dtypes, finite values.

    A wrong dtype is refused rather than cast: ``load_state_dict`` would silently copy int64
    weights into float parameters (a "model" that retrieves at chance), and NaN weights would
    surface later as an unexplained failure.
    """
    want = net.state_dict()
    missing, extra = sorted(set(want) - set(sd)), sorted(set(sd) - set(want))
    if missing or extra:
        parts = ([f"missing {', '.join(missing[:3])}" + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")]
                 if missing else []) + ([f"unexpected {', '.join(extra[:3])}" + (
                     f" and {len(extra) - 3} more" if len(extra) > 3 else "")] if extra else [])
        raise RunError(f"{path}: does not match config.json's model settings: {'; '.join(parts)}")
    for key, t in want.items():
        got = sd[key]
        if tuple(got.shape) != tuple(t.shape):
            raise RunError(f"{path}: does not match config.json's model settings: tensor {key!r} has shape "
                           f"{tuple(got.shape)}, the network needs {tuple(t.shape)}")
        if got.dtype != t.dtype:
            raise RunError(f"{path}: tensor {key!r} is {str(got.dtype).replace('torch.', '')}; the network "
                           f"needs {str(t.dtype).replace('torch.', '')} (refused, not converted)")
        if got.is_floating_point() and not torch.isfinite(got).all():
            raise RunError(f"{path}: tensor {key!r} holds NaN or infinite values (diverged or damaged weights)")
