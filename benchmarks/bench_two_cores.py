"""Two cores for the default recipe's training: two torch threads in one process, or DDP over two processes.

Two Lite0 steps: the ``pretrained`` recipe's (stem + 6 blocks frozen and cached: blocks 6..15 and the
head on a batch of 128 cached inputs at 112 px; the default recipe's when this module was written),
and the ``default`` = ``teacher`` recipe's since issue 20 (160 px, 11 blocks frozen and cached); fp32
channels_last, AdamW, as ``train`` runs them (``hardware.keep_freed_memory`` set), each three ways:

  1 process, 1 thread      the recorded runs' setting (``--threads 1``; the reference)
  1 process, 2 threads     ``--threads 2``: the same batches and optimiser steps, each step on two cores
  DDP, 2 x 1 thread        ``torchrun --nproc_per_node 2 ... --threads 1``: gloo, each process its own
                           batch of 128, gradients averaged, so an optimiser step covers two batches
                           (the same epochs in half the optimiser steps)

Each way runs in its own child process(es), the ways alternating (reversed on odd rounds). Reported:
samples/s of the machine (DDP: both processes' samples), median and min-max over rounds, and
optimiser steps/s. What it does not show: DDP's processes each build the whole frozen-feature cache
(``train`` has no sharded cache), so its start-up costs what one process's does on one core.
Quick: 2 rounds of 1 + 3 steps; full: 3 rounds of 2 + 6.

Run: ``python benchmarks/bench_two_cores.py [--quick]`` or ``python -m benchmarks --only two_cores``.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BATCH = 128
STEPS = ((112, 6), (160, 11))  # (input px, frozen blocks): the pretrained recipe's step, the default's
WAYS = {"1 process, 1 thread": (1, 1), "1 process, 2 threads": (1, 2), "DDP, 2 x 1 thread": (2, 1)}  # (procs, threads)


def _steps(rank: int, world: int, threads: int, warmup: int, steps: int, port: int, size: int,
           frozen: int) -> dict[str, Any]:
    """One process's timed steps (a child; under DDP, one rank)."""
    sys.path.insert(0, str(REPO))
    from xmr_core.hardware import keep_freed_memory

    keep_freed_memory()  # as train() does at its start
    import torch
    import torch.distributed as dist

    from benchmarks.bench_allocator import default_recipe_step

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if world > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    net, opt, x = default_recipe_step(BATCH, seed=rank, size=size, frozen=frozen)

    class _Head(torch.nn.Module):  # what DDP wraps: the trainable part from the cached features on
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, h: torch.Tensor) -> torch.Tensor:
            return self.net.forward_from_frozen_outputs(h)

    model = _Head()
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model)

    def step() -> float:
        t0 = time.perf_counter()
        model(x).float().pow(2).mean().backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return time.perf_counter() - t0

    for _ in range(warmup):
        step()
    if world > 1:
        dist.barrier()
    t0 = time.perf_counter()
    times = [step() for _ in range(steps)]
    wall = time.perf_counter() - t0
    if world > 1:
        dist.destroy_process_group()
    return {"rank": rank, "wall_s": wall, "step_s": statistics.median(times)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(way: str, warmup: int, steps: int, size: int, frozen: int) -> dict[str, Any]:
    procs, threads = WAYS[way]
    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    children = [subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child", str(rank), str(procs),
                                  str(threads), str(warmup), str(steps), str(port), str(size), str(frozen)],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for rank in range(procs)]
    outs = []
    for c in children:
        out, err = c.communicate(timeout=900)
        if c.returncode != 0:
            raise RuntimeError(f"{way}: a child failed: {err[-800:]}")
        outs.append(json.loads(out.strip().splitlines()[-1]))
    wall = max(o["wall_s"] for o in outs)  # the slowest rank sets the pace
    return {"samples_per_s": procs * BATCH * steps / wall, "optimiser_steps_per_s": steps / wall}


def cases(quick: bool = False) -> list[dict[str, Any]]:
    """Machine samples/s of each Lite0 recipe's cached step, one thread vs two threads vs DDP."""
    rounds, warmup, steps = (2, 1, 3) if quick else (3, 2, 6)
    got: dict[tuple[int, int, str], list[dict[str, Any]]] = {(*st, w): [] for st in STEPS for w in WAYS}
    order = list(got)
    for i in range(rounds):
        for key in (order if i % 2 == 0 else order[::-1]):
            got[key].append(_run(key[2], warmup, steps, key[0], key[1]))
    rows = []
    for (size, frozen, way), runs in got.items():
        sps = [r["samples_per_s"] for r in runs]
        procs, threads = WAYS[way]
        # the 112 px case keeps the name its committed results file (results-issue20-two-cores.json) has
        rows.append({"case": f"default recipe training step (Lite0, {frozen} blocks cached, batch {BATCH} a process, "
                             f"{size} px, fp32-cl), two cores", "variant": way,
                     "size": size, "frozen_blocks": frozen, "samples_per_s_median": statistics.median(sps),
                     "min": min(sps), "max": max(sps), "reference": way == "1 process, 1 thread",
                     "repeats": len(sps), "steps_per_round": steps, "processes": procs, "threads": threads,
                     "optimiser_steps_per_s": statistics.median(r["optimiser_steps_per_s"] for r in runs)})
    return rows


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        rank, world, threads, warmup, steps, port, size, frozen = (int(a) for a in argv[1:9])
        print(json.dumps(_steps(rank, world, threads, warmup, steps, port, size, frozen)))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    for r in cases(args.quick):
        print(f"{r['size']} px, {r['frozen_blocks']} frozen  {r['variant']:<24} {r['samples_per_s_median']:7.1f} samples/s ({r['min']:.1f}-{r['max']:.1f}), "
              f"{r['optimiser_steps_per_s']:.2f} optimiser steps/s")


if __name__ == "__main__":
    main()
