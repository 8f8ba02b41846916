"""Parameter groups, the optimiser and the learning-rate schedule."""
from __future__ import annotations

import math

import torch
from torch import nn

from ..network.backbones import trunk_and_head_parameters
from ..config import TrainConfig
from ..errors import XmrError


def make_optimizer(module: nn.Module, t: TrainConfig) -> torch.optim.Optimizer:
    """Adam (paper) or AdamW; a pretrained trunk's blocks in their own group at ``trunk_lr_mult``."""
    trunk, rest = trunk_and_head_parameters(module.net)
    rest += [p for n, p in module.named_parameters() if not n.startswith("net.") and p.requires_grad]
    groups = [{"params": rest, "lr_mult": 1.0}]
    if trunk:
        groups.append({"params": trunk, "lr_mult": t.trunk_lr_mult})
    if t.optimizer not in ("adam", "adamw"):
        raise XmrError(f"unknown optimizer {t.optimizer!r}; choose adam or adamw")
    cls = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
    return cls(groups, lr=t.lr, weight_decay=t.weight_decay)


def lr_factor(tcfg: TrainConfig, step: int, total: int) -> float:
    """Linear warm-up, then constant (paper) or cosine down to 5 % (ours)."""
    if tcfg.warmup_steps and step < tcfg.warmup_steps:
        return (step + 1) / tcfg.warmup_steps
    if tcfg.lr_schedule == "cosine" and total > tcfg.warmup_steps:
        p = (step - tcfg.warmup_steps) / max(1, total - tcfg.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, p))) * 0.95 + 0.05
    return 1.0


def set_lr(opt: torch.optim.Optimizer, t: TrainConfig, step: int, total: int) -> None:
    """Every group's LR for this step: the schedule times the group's ``lr_mult``."""
    for g in opt.param_groups:
        g["lr"] = t.lr * g.get("lr_mult", 1.0) * lr_factor(t, step, total)
