"""Device, precision and memory format: chosen per machine, from what measured faster."""
from __future__ import annotations

import os

import torch

from ..config import TrainConfig
from ..network.inference import cpu_has_native_bf16, prefer_channels_last


def pick_device(t: TrainConfig, world: int) -> torch.device:
    """``t.device`` ("auto": CUDA when present); under DDP on CUDA, this process's GPU."""
    device = torch.device("cuda" if (t.device == "auto" and torch.cuda.is_available()) else
                          ("cpu" if t.device == "auto" else t.device))
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    return device


def amp_dtype(tcfg: TrainConfig, device: torch.device, backbone: str = "inception_resnet_v1") -> torch.dtype | None:
    """The autocast dtype, or None for fp32."""
    if tcfg.amp == "off":
        return None
    if device.type == "cuda":
        # bf16 where the GPU computes it (Ampere on); before that, fp16 (with a GradScaler, make_scaler):
        # torch's default is_bf16_supported() also says yes where bf16 is only emulated (slow).
        if tcfg.amp == "bf16" or torch.cuda.is_bf16_supported(including_emulation=False):
            return torch.bfloat16
        return torch.float16
    # CPU: bf16 autocast is emulated without AVX512-BF16/AMX and measured 5-10x *slower*
    # than fp32 on the 2-core AVX2 machine here (BENCHMARKS.md), so "auto" uses it
    # only where the CPU has native bf16 support, and only for InceptionResNet-V1: for
    # EfficientNet-Lite0 (depthwise convolutions) bf16 measured no faster with every block
    # trained and 2x slower on cached frozen blocks (BENCHMARKS.md, bench_backbone_step).
    if tcfg.amp == "bf16":
        return torch.bfloat16
    return torch.bfloat16 if cpu_has_native_bf16() and backbone == "inception_resnet_v1" else None


def make_scaler(amp: torch.dtype | None, device: torch.device) -> torch.amp.GradScaler:
    """The loss scaler of a step: on for fp16 autocast on CUDA (fp16 gradients underflow without
    it), a no-op otherwise (bf16 has fp32's range). Its state is saved in ``last.pt``."""
    return torch.amp.GradScaler(device.type, enabled=amp is torch.float16 and device.type == "cuda")


def use_channels_last(tcfg: TrainConfig, device: torch.device) -> bool:
    if tcfg.channels_last in ("on", "1", "true", True):
        return True
    if tcfg.channels_last in ("off", "0", "false", False):
        return False
    return prefer_channels_last(device)   # "auto": where NHWC measured faster (embedder.py)
