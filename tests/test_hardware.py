"""hardware.py: the CPU description every results file carries (issue 21)."""
from __future__ import annotations

from xmr_core import hardware

AMD = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu sse4_2 avx2 fma avx512f avx512bw avx512_vnni avx512_bf16
processor\t: 1
model name\t: AMD EPYC
"""
INTEL = """processor\t: 0
model name\t: Intel(R) Xeon(R) CPU @ 2.20GHz
flags\t\t: fpu avx2 fma avx512f avx512bw avx512_vnni
"""


def test_parse_cpuinfo_reads_the_first_processors_model_and_flags():
    model, flags = hardware.parse_cpuinfo(AMD)
    assert model == "AMD EPYC"
    assert {"avx512_bf16", "avx512f", "avx2"} <= flags and "amx_bf16" not in flags
    assert hardware.parse_cpuinfo("") == ("", frozenset())


def test_cpu_kind_separates_native_bf16_cpus_and_unrecorded_flags():
    _, amd = hardware.parse_cpuinfo(AMD)
    model, intel = hardware.parse_cpuinfo(INTEL)
    assert hardware.cpu_kind("AMD EPYC", amd) == "AMD EPYC, native bf16"
    assert hardware.cpu_kind(model, intel).endswith(", no native bf16")
    assert hardware.cpu_kind("AMD EPYC", None) == "AMD EPYC (flags not recorded)"


def test_cpu_description_names_model_flags_threads_and_load(monkeypatch):
    monkeypatch.setattr(hardware, "_cpuinfo", lambda: INTEL)
    d = hardware.cpu_description()
    assert d["cpu_model"].startswith("Intel(R) Xeon")
    assert d["flags"] == ["avx2", "fma", "avx512f", "avx512bw", "avx512_vnni"]  # in RELEVANT_FLAGS order
    assert d["native_bf16"] is False and d["kind"].endswith("no native bf16")
    assert d["cpus_usable"] >= 1 and "loadavg" in d and "procs_running" in d and "torch_threads" in d


def test_xmr_cpuinfo_makes_the_suite_take_another_cpus_paths(monkeypatch):
    """XMR_CPUINFO (README, .ci/run): the committed Intel Xeon description is read instead of
    /proc/cpuinfo, so bf16 is not chosen anywhere, as on that CPU."""
    from pathlib import Path

    path = Path(__file__).parent / "cpuinfo" / "intel-xeon-no-bf16.txt"
    model, flags = hardware.parse_cpuinfo(path.read_text())
    assert model == "Intel(R) Xeon(R) Processor" and {"avx512f", "avx512_vnni"} <= flags
    assert not flags & set(hardware.NATIVE_BF16_FLAGS)
    monkeypatch.setenv(hardware.CPUINFO_ENV, str(path))
    hardware._cpuinfo.cache_clear()
    hardware.cpu_has_native_bf16.cache_clear()
    try:
        assert hardware.cpu_has_native_bf16() is False
        assert hardware.cpu_description()["kind"] == "Intel(R) Xeon(R) Processor, no native bf16"
        import torch

        from xmr_core.config import TrainConfig
        from xmr_core.train.precision import amp_dtype
        assert amp_dtype(TrainConfig(amp="auto"), torch.device("cpu")) is None  # fp32 training, as there
    finally:
        monkeypatch.delenv(hardware.CPUINFO_ENV)
        hardware._cpuinfo.cache_clear()
        hardware.cpu_has_native_bf16.cache_clear()


# ----------------------------------------------------------------------------- the allocator
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402

_FAULTS = """
import os, resource, sys
from xmr_core import hardware
kept = hardware.keep_freed_memory()
again = hardware.keep_freed_memory()
import torch
def steps(n):  # what training steps do: allocate and free the same large buffers
    for _ in range(n):
        a = torch.ones(64 << 18)  # 64 MiB of float32, every page written
        del a
steps(8)  # the heap settles in the first few (glibc's bins), as in a run's first steps
r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
steps(10)
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0) / 10
print(repr((kept, again == kept, hardware.cpu_description()["allocator"], faults)))
"""


def _faults(env_value: str | None) -> tuple:
    import os

    env = {k: v for k, v in os.environ.items() if k != hardware.ALLOCATOR_ENV}
    if env_value is not None:
        env[hardware.ALLOCATOR_ENV] = env_value
    r = subprocess.run([sys.executable, "-c", _FAULTS], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr[-1500:]
    return eval(r.stdout.strip().splitlines()[-1])  # noqa: S307 - our own child's repr of a tuple


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_keep_freed_memory_stops_refaulting_freed_buffers():
    """The training setting (hardware.keep_freed_memory): a 64 MiB buffer freed and allocated again
    comes back from the heap, once the heap has settled, instead of 16,384 fresh zero-filled pages each time; XMR_MALLOC=system leaves
    glibc's defaults, and the results files say which was in force."""
    kept, idempotent, described, faults_kept = _faults(None)
    assert kept.startswith("glibc malloc keeps freed memory") and idempotent and described == kept
    none, _, described_sys, faults_sys = _faults("system")
    assert none is None and described_sys == "system default"
    assert faults_sys >= 8000  # 64 MiB in 4 KiB pages is 16,384: mmap'd afresh every time
    assert faults_kept < faults_sys / 4
