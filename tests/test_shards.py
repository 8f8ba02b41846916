"""Sharded embedding (issue 24): torchrun ranks' shards merge into the single-process embedding,
an embed killed mid-way resumes from its finished shards, the merged layout is memory-mapped."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARD = 64  # items a shard: whole batches of 16 or 32 (the CPU embedders' sizes); the test split has several


@pytest.fixture(scope="module")
def fast(tmp_path_factory):
    """(the fast demo run, its test split embedded by one process with one thread, the environment of a
    subprocess: one thread a process, like torchrun's ranks)."""
    from test_app import fast_demo_run

    from xmr_core.evaluation.split_embeddings import load_embeddings

    ck, data = fast_demo_run(tmp_path_factory)
    run = ck / "demo-fast"
    env = {**os.environ, "XMR_CHECKPOINTS": str(ck), "XMR_DATA_DIR": str(data), "XMR_RELEVANCE": "word-vectors",
           "XMR_SHARD_ITEMS": str(SHARD), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    one = _copy(run, tmp_path_factory.mktemp("one-process") / "run")
    p = subprocess.run([sys.executable, "-m", "xmr_core", "embed", "--run", str(one)], env=env, capture_output=True,
                       text=True, timeout=240, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-2000:]
    ref = load_embeddings(next((one / "embeddings").glob("*-test.npz")))
    assert not isinstance(ref.images, np.memmap)  # the small split went the single-process way (one .npz)
    return run, ref, env


def _copy(run: Path, dst: Path) -> Path:
    """The run without its embeddings (the copy must embed the split itself)."""
    shutil.copytree(run, dst, ignore=shutil.ignore_patterns("embeddings", "tsne", "*.lock"))
    return dst


def _same(a, b) -> None:
    """Bit-identical vectors and the same records: every shard holds whole batches, so each batch is
    the one the single process ran, on the same thread count."""
    assert a.images.dtype == np.float32 and a.images.shape == b.images.shape
    assert np.array_equal(np.asarray(a.images), b.images) and np.array_equal(np.asarray(a.captions), b.captions)
    assert a.image_ids.tolist() == b.image_ids.tolist() and a.caption_ids.tolist() == b.caption_ids.tolist()
    assert a.caption_image.tolist() == b.caption_image.tolist()


def test_shards_cover_the_split_in_whole_batches():
    from xmr_core.evaluation.shards import shard_ranges, shard_size

    assert shard_size(16, 48) == 48 and shard_size(16, 50) == 48 and shard_size(32, 10) == 32
    assert shard_size(32, 48) == 32
    r = shard_ranges(100, 48)
    assert r == [(0, 48), (48, 96), (96, 100)]
    assert shard_ranges(0, 48) == []


def test_torchrun_two_ranks_merge_to_the_single_process_embedding(fast, tmp_path):
    """``torchrun --nproc_per_node 2 -m xmr_core -- embed``: gloo on CPU, each rank its shards, rank 0
    merges into the npy layout, loaded memory-mapped; equal to the single-process file."""
    from xmr_core.evaluation.split_embeddings import load_embeddings

    run, ref, env = fast
    mine = _copy(run, tmp_path / "run")
    torchrun = shutil.which("torchrun") or pytest.skip("torchrun is not installed")
    p = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "xmr_core", "--", "embed",
                        "--run", str(mine)], env=env, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.count("embeddings:") == 1  # rank 0 alone reports
    npz = next((mine / "embeddings").glob("*-test.npz"))
    got = load_embeddings(npz)
    assert isinstance(got.images, np.memmap) and isinstance(got.captions, np.memmap)
    _same(got, ref)
    assert not (mine / "embeddings" / ".shards").exists()  # merged shards are removed


_KILL_AFTER = """
import os, signal, sys
import xmr_core.evaluation.shards as sh
from xmr_core.bundle.run import load_run
real, calls = sh.embed_dataset, []
def dying(*a, **k):
    calls.append(1)
    if len(calls) > int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no exception handler: as a killed process
    return real(*a, **k)
sh.embed_dataset = dying
sh.embed_split_sharded(load_run(sys.argv[1]))
"""


def test_an_embed_killed_mid_way_resumes_from_its_finished_shards(fast, tmp_path):
    from xmr_core.bundle.run import load_run
    from xmr_core.evaluation import shards
    from xmr_core.evaluation.split_embeddings import load_embeddings

    run, ref, env = fast
    mine = _copy(run, tmp_path / "run")
    p = subprocess.run([sys.executable, "-c", _KILL_AFTER, str(mine), "3"], env=env, capture_output=True,
                       text=True, timeout=120, cwd=ROOT)
    assert p.returncode == -9, p.stderr[-2000:]
    folder = next((mine / "embeddings" / ".shards").iterdir())
    # one process takes the shards in order, images then captions: three were written, the fourth died
    r = load_run(mine)
    ds = r.dataset().split("test")
    step = shards.shard_size(r.embedder.batch_size, SHARD)
    order = [f"images-{i:06d}.npy" for i in range(len(shards.shard_ranges(len(ds.images), step)))] + \
            [f"captions-{i:06d}.npy" for i in range(len(shards.shard_ranges(len(ds.captions), step)))]
    assert sorted(f.name for f in folder.iterdir()) == sorted(order[:3])  # whole shards, no temp file
    assert not (mine / "embeddings" / "demo-400-test.npz").exists()  # not merged: the split is not done
    stamps = {f.name: f.stat().st_mtime_ns for f in folder.iterdir()}

    counts = shards.embed_shards(r, ds, folder, SHARD)
    assert counts == {"skipped": 3, "embedded": len(order) - 3}
    assert all(((folder / n).stat().st_mtime_ns == t) for n, t in stamps.items())  # kept, not recomputed
    path = shards.embed_split_sharded(r, shard_items=SHARD)  # every shard there: merges only
    got = load_embeddings(path)
    # the shards embedded here run in this test's process, not in the CLI's: with the Lite0 demo's fp32
    # kernels the last bits may differ (measured: 1e-7), so this compares closely, not bit for bit
    assert np.allclose(np.asarray(got.images), ref.images, atol=1e-5)
    assert np.allclose(np.asarray(got.captions), ref.captions, atol=1e-5)
    assert got.caption_ids.tolist() == ref.caption_ids.tolist() and got.image_ids.tolist() == ref.image_ids.tolist()


def test_a_damaged_shard_is_embedded_again(fast, tmp_path):
    from xmr_core.bundle.run import load_run
    from xmr_core.evaluation import shards

    run, _, _ = fast
    r = load_run(_copy(run, tmp_path / "run"))
    ds = r.dataset().split("test")
    folder = tmp_path / "shards"
    folder.mkdir()
    np.save(folder / "images-000000.npy", np.full((SHARD, r.embedder.dim), np.nan, np.float32))  # not finite
    np.save(folder / "images-000001.npy", np.zeros((3, r.embedder.dim), np.float32))  # wrong shape
    counts = shards.embed_shards(r, ds, folder, SHARD)
    assert counts["skipped"] == 0
    step = shards.shard_size(r.embedder.batch_size, SHARD)
    for i, (a, b) in enumerate(shards.shard_ranges(len(ds.images), step)[:2]):
        v = np.load(folder / f"images-{i:06d}.npy")
        assert v.shape == (b - a, r.embedder.dim) and np.isfinite(v).all()
