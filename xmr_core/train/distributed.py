"""DDP: this process's rank, the world size, gathering a tensor from every rank, sharing rank 0's number."""
from __future__ import annotations

import os

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) without DDP."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def barrier() -> None:
    if world()[1] > 1:
        dist.barrier()


def gather(x: torch.Tensor) -> torch.Tensor:
    """Every rank's ``x``, concatenated (``x`` itself without DDP)."""
    _, n = world()
    if n == 1:
        return x
    out = [torch.empty_like(x) for _ in range(n)]
    dist.all_gather(out, x.contiguous())
    return torch.cat(out)


def init_from_env(device: str) -> None:
    """Join the process group torchrun describes (nccl on CUDA, gloo on CPU)."""
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() and device != "cpu" else "gloo")


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def broadcast_int(v: int) -> int:
    """Rank 0's ``v`` on every rank (``v`` itself without DDP)."""
    if world()[1] == 1:
        return v
    t = torch.tensor([v], dtype=torch.int64, device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.broadcast(t, 0)
    return int(t.item())
