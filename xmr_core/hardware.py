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
        **_load(),
    }
