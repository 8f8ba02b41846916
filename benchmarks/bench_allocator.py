"""What keeping freed memory in glibc's heap buys a training step (``hardware.keep_freed_memory``).

glibc's malloc serves large blocks with mmap and returns them to the kernel when freed, so a training
step that allocates and frees the same activation buffers every step faults them in again, zero-filled.
``train`` raises glibc's mmap and trim thresholds at its start (xmr_core/hardware.py); this times a
step with glibc's defaults (``XMR_MALLOC=system``, the reference) and with it kept (what training on the
frozen-feature cache sets; the demo recipe is measured too, and left with the defaults):

  default recipe   EfficientNet-Lite0, stem + 6 blocks frozen and cached: blocks 6..15 and the head
                   on a batch of 128 cached inputs (32 photos + 96 painted captions) at 112 px, fp32
                   channels_last, AdamW (the ``default`` recipe's step), at 1 and at 2 torch threads
  demo recipe      InceptionResNet-V1 width 0.375 at 80 px, batch 96, Adam; bf16 autocast +
                   channels_last where the CPU has native bf16, fp32 NCHW elsewhere (``--amp auto``)

The setting is process-wide, so every measurement is its own child process (the same script with
``--child``); the children alternate allocator settings (the order reversed on odd rounds), each
runs warm-up steps then timed steps; a round's figure is the child's median step. Reported: samples/s
(median and min-max over rounds), and per step the system CPU time and minor page faults, which are
what the setting removes. Quick: 2 rounds of 1 + 3 steps; full: 3 rounds of 2 + 5.

Run: ``python benchmarks/bench_allocator.py [--quick]`` or ``python -m benchmarks --only allocator``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# case -> (network, batch, threads)
CASES = {
    "default recipe step (Lite0, 6 blocks cached, 112 px, fp32-cl), 1 thread": ("lite0", 128, 1),
    "default recipe step (Lite0, 6 blocks cached, 112 px, fp32-cl), 2 threads": ("lite0", 128, 2),
    "demo recipe step (InceptionResNet-V1 w0.375, 80 px, --amp auto), 1 thread": ("demo", 96, 1),
}
ALLOCATORS = ("system", "kept")   # glibc's defaults (reference), hardware.keep_freed_memory


def default_recipe_step(batch: int, seed: int = 0, size: int = 112, frozen: int = 6) -> tuple[Any, Any, Any]:
    """A Lite0 recipe's cached training step, as ``train`` builds it: (EfficientNet-Lite0 with its
    stem + ``frozen`` blocks frozen, in channels_last; AdamW over the trainable part; the frozen blocks'
    outputs for a random batch of ``batch`` at ``size`` px, computed once, as the cache is). The
    defaults are the ``pretrained`` recipe's step (the default recipe's when this module was written);
    160 px with 11 frozen is the ``default`` = ``teacher`` recipe's since issue 20. Also bench_two_cores."""
    import torch

    from xmr_core.config import ModelConfig
    from xmr_core.network.backbones import build_network

    cfg = ModelConfig(backbone="efficientnet_lite0", pretrained=True, freeze_blocks=frozen, input_size=size,
                      dropout_keep=1.0)
    net = build_network(cfg).train().to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-4, weight_decay=1e-4)
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():  # the cache is computed once, before training: not timed
        h = net.frozen_features(x.contiguous(memory_format=torch.channels_last))
    return net, opt, h


def _child(net_name: str, batch: int, threads: int, allocator: str, warmup: int, steps: int) -> dict[str, Any]:
    """One process's measurement: ``steps`` timed training steps after ``warmup`` (runs in the child)."""
    sys.path.insert(0, str(REPO))
    from xmr_core.hardware import cpu_has_native_bf16, keep_freed_memory

    kept = keep_freed_memory() if allocator == "kept" else None
    if allocator == "kept" and kept is None:
        raise SystemExit("glibc refused the allocator setting (or this is not glibc)")
    import torch

    from xmr_core.config import ModelConfig
    from xmr_core.network.backbones import build_network

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if net_name == "lite0":
        net, opt, x = default_recipe_step(batch)
        forward, bf16 = net.forward_from_frozen_outputs, False
    else:
        bf16 = cpu_has_native_bf16()
        net = build_network(ModelConfig(input_size=80, width=0.375, standardize=True, dropout_keep=1.0)).train()
        x = torch.randn(batch, 3, 80, 80)
        if bf16:
            net = net.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        forward = net

    def step() -> float:
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = forward(x)
        out.float().pow(2).mean().backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return time.perf_counter() - t0

    for _ in range(warmup):
        step()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    times = [step() for _ in range(steps)]
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return {"step_s": statistics.median(times), "times": times,
            "sys_s_per_step": (r1.ru_stime - r0.ru_stime) / steps,
            "user_s_per_step": (r1.ru_utime - r0.ru_utime) / steps,
            "minor_faults_per_step": (r1.ru_minflt - r0.ru_minflt) / steps, "allocator": kept or "system default",
            "bf16": bf16}


def _run_child(case: str, allocator: str, warmup: int, steps: int) -> dict[str, Any]:
    net_name, batch, threads = CASES[case]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    env.pop("XMR_MALLOC", None)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", net_name, str(batch), str(threads), allocator,
           str(warmup), str(steps)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"child {cmd[2:]} failed: {out.stderr[-800:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def cases(quick: bool = False) -> list[dict[str, Any]]:
    """samples/s of a training step with glibc's defaults and with freed memory kept, per case."""
    rounds, warmup, steps = (2, 1, 3) if quick else (3, 2, 5)
    variants = [(c, a) for c in CASES for a in ALLOCATORS]
    got: dict[tuple[str, str], list[dict[str, Any]]] = {v: [] for v in variants}
    for i in range(rounds):
        for v in (variants if i % 2 == 0 else variants[::-1]):
            got[v].append(_run_child(v[0], v[1], warmup, steps))
    rows = []
    for (case, allocator), runs in got.items():
        batch = CASES[case][1]
        sps = [batch / r["step_s"] for r in runs]
        rows.append({
            "case": case, "variant": "glibc defaults" if allocator == "system" else "freed memory kept (keep_freed_memory)",
            "samples_per_s_median": statistics.median(sps), "min": min(sps), "max": max(sps),
            "reference": allocator == "system", "repeats": len(sps), "steps_per_round": steps,
            "sys_s_per_step": statistics.median(r["sys_s_per_step"] for r in runs),
            "minor_faults_per_step": statistics.median(r["minor_faults_per_step"] for r in runs),
            "allocator": runs[0]["allocator"], "bf16": runs[0]["bf16"], "threads": CASES[case][2]})
    return rows


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        net_name, batch, threads, allocator, warmup, steps = argv[1:7]
        print(json.dumps(_child(net_name, int(batch), int(threads), allocator, int(warmup), int(steps))))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    for r in cases(args.quick):
        print(f"{r['case']:<80} {r['variant']:<36} {r['samples_per_s_median']:7.1f} samples/s "
              f"({r['min']:.1f}-{r['max']:.1f}), sys {r['sys_s_per_step']:.3f} s/step, "
              f"{r['minor_faults_per_step']:,.0f} minor faults/step")


if __name__ == "__main__":
    main()
