"""What the CPU computes natively: the one place that reads /proc/cpuinfo.

Used to pick bf16 where it pays (training and inference autocast, ``embedder.py``,
``train/precision.py``; the search's bf16 screen, ``retrieval/index.py``): with
AVX512-BF16 or AMX a bf16 matmul runs several times faster than fp32 (bench_search's
"matmul alone" rows, benchmarks/results*.json), while CPUs without them emulate bf16, which
is slower than fp32. ``cpu_description`` names the
CPU, these flags, the threads and the load in every results file (``benchmarks/run.py``),
so a figure always says which kind of machine produced it.
"""
from __future__ import annotations

import ctypes
import os
import platform
from functools import lru_cache
from typing import Any

# The flags that decide our speed paths (bf16 / int8 dot products, AMX tiles, vector width).
RELEVANT_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16",
                  "amx_int8", "avx_vnni")
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


# Read the CPU description from this file instead of /proc/cpuinfo: the suite and the benchmarks then take
# the paths they would take on that CPU (tests/cpuinfo/ has the Intel Xeon without bf16; README "Tests").
CPUINFO_ENV = "XMR_CPUINFO"


@lru_cache(maxsize=1)
def _cpuinfo() -> str:
    try:
        with open(os.environ.get(CPUINFO_ENV) or "/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


def parse_cpuinfo(text: str) -> tuple[str, frozenset[str]]:
    """(model name, flags) of the first processor in a /proc/cpuinfo text ("" and {} if absent)."""
    model, flags = "", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
        if model and flags:
            break
    return model, flags


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX), so bf16 pays."""
    return any(f in parse_cpuinfo(_cpuinfo())[1] for f in NATIVE_BF16_FLAGS)


def cpu_kind(model: str, flags: list[str] | frozenset[str] | None) -> str:
    """A short label of a CPU kind for tables: its model and whether bf16 is native
    ("AMD EPYC, native bf16"); "flags not recorded" when ``flags`` is None (older results files)."""
    if flags is None:
        return f"{model or 'unknown CPU'} (flags not recorded)"
    bf16 = any(f in flags for f in NATIVE_BF16_FLAGS)
    return f"{model or 'unknown CPU'}, {'native bf16' if bf16 else 'no native bf16'}"


# ----------------------------------------------------------------------------- the allocator
# glibc's malloc serves blocks above a threshold (128 KiB at first, raised up to 32 MiB as blocks are
# freed) with mmap and gives them back to the kernel when freed. A training step allocates and frees the
# same activation buffers every step, so every step faults those pages in again, zero-filled: on the
# default recipe's step (one thread, AMD EPYC) about 46,000 minor faults and 0.094 s of system time;
# kept, 840 and 0.001 s, and the step x1.14 (benchmarks/results-issue20-allocator.json). Raising the
# mmap threshold and the trim threshold keeps freed blocks in the heap for the next step. The cost is
# that the process keeps its peak heap instead of returning it, which a training run reaches anyway.
ALLOCATOR_ENV = "XMR_MALLOC"             # "system": leave glibc's defaults (the setting is then not made)
MMAP_THRESHOLD = 1 << 30                 # blocks up to 1 GiB come from the heap (glibc accepts it: checked)
TRIM_THRESHOLD = (1 << 31) - 1           # never trim the heap's top back to the kernel (largest int)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3   # glibc's <malloc.h> parameter numbers
_allocator: str | None = None            # what keep_freed_memory set in this process (None: nothing)


def keep_freed_memory() -> str | None:
    """Ask glibc's malloc to keep freed blocks for reuse (see above); returns what was set, or None
    where it does not apply (not glibc, ``XMR_MALLOC=system``, or glibc refused a value). Process-wide
    and idempotent; DataLoader workers forked later inherit it."""
    global _allocator
    if _allocator is not None:
        return _allocator
    if os.environ.get(ALLOCATOR_ENV, "").strip().lower() == "system" or platform.system() != "Linux":
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl or another C library: its own policy stands
        return None
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    if mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1 or mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) != 1:
        return None
    _allocator = f"glibc malloc keeps freed memory (mmap threshold {MMAP_THRESHOLD >> 20} MiB, no trim)"
    return _allocator


def _load() -> dict[str, Any]:
    """Load average and the number of runnable tasks now (this process included)."""
    out: dict[str, Any] = {}
    try:
        out["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        out["loadavg"] = None
    try:
        with open("/proc/stat") as f:
            out["procs_running"] = next(int(l.split()[1]) for l in f if l.startswith("procs_running"))
    except (OSError, StopIteration, ValueError):
        out["procs_running"] = None
    return out


def cpu_description() -> dict[str, Any]:
    """The machine a figure came from: CPU model, its relevant flags, cores, torch threads, load.

    ``flags`` lists the :data:`RELEVANT_FLAGS` the CPU has (the others it lacks); ``kind`` is
    :func:`cpu_kind`'s label. ``torch_threads`` is read only if torch is already imported."""
    import sys

    model, flags = parse_cpuinfo(_cpuinfo())
    model = model or platform.processor() or "unknown"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    present = [f for f in RELEVANT_FLAGS if f in flags]
    torch = sys.modules.get("torch")
    return {
        "cpu_model": model,
        "flags": present,
        "flags_checked": list(RELEVANT_FLAGS),
        "native_bf16": any(f in flags for f in NATIVE_BF16_FLAGS),
        "kind": cpu_kind(model, present),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "allocator": _allocator or "system default",
        **_load(),
    }
