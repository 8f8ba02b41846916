"""What the CPU computes natively: the one place that reads /proc/cpuinfo.

Used to pick bf16 where it pays (training and inference autocast, ``embedder.py``,
``train/precision.py``; the search's bf16 screen, ``retrieval/index.py``): with
AVX512-BF16 or AMX a bf16 matmul ran 4.5x faster than fp32 here (BENCHMARKS.md), while
CPUs without them emulate bf16 and ran 5-10x *slower*.
"""
from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX), so bf16 pays."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return any(f in flags for f in ("avx512_bf16", "amx_bf16"))
