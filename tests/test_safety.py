"""Reliability round three (issue 22): writes that never destroy, bundles checked not trusted, runs
that know their data, bounded reads, escaped output, stops that stop, and the soft cases. Small
generated data only (the tiny bundle of test_values, the tiny demo of test_train)."""
from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from test_train import tiny_ds  # noqa: F401 - fixture
from test_values import bundle  # noqa: F401 - fixture: a tiny trained run bundle
from xmr_core.cli.commands import main
from xmr_core.errors import XmrError

ROOT = Path(__file__).resolve().parents[1]


def _one_line(capsys, rc: int, needle: str) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("note:")]
    assert rc == 2 and "Traceback" not in err, (rc, err[-1500:])
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err[-1500:]
    return lines[0]


@pytest.fixture
def run(bundle, tmp_path, monkeypatch):  # noqa: F811
    """A private copy of the tiny bundle (tests damage it), relevance by word vectors."""
    monkeypatch.setenv("XMR_RELEVANCE", "word-vectors")
    dst = tmp_path / "run"
    shutil.copytree(bundle, dst)
    return dst


# ---- 1. writes never destroy ---------------------------------------------------------------------------
def test_atomic_write_failure_keeps_the_old_file_and_leaves_nothing(tmp_path):
    from xmr_core.files import atomic_file, write_text_atomic

    p = tmp_path / "old.png"
    p.write_bytes(b"good")
    with pytest.raises(OSError):
        with atomic_file(p) as f:
            f.write(b"half")
            raise OSError(28, "No space left on device")
    assert p.read_bytes() == b"good" and sorted(x.name for x in tmp_path.iterdir()) == ["old.png"]
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for target in (fifo, tmp_path):
        with pytest.raises(XmrError, match="refusing to replace"):
            write_text_atomic(target, "x")
    assert fifo.exists() and not os.path.isfile(fifo)


def test_file_size_limit_acts_as_a_full_disk(tmp_path):
    """A real failing write (RLIMIT_FSIZE: the kernel refuses to grow a file, as a full disk does)."""
    code = ("import resource,sys;from pathlib import Path;from xmr_core.files import write_bytes_atomic;"
            "resource.setrlimit(resource.RLIMIT_FSIZE,(1000,1000));"
            "write_bytes_atomic(Path(sys.argv[1]), b'x' * 5000)")
    p = tmp_path / "old.bin"
    p.write_bytes(b"good")
    r = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode != 0 and "File too large" in r.stderr
    assert p.read_bytes() == b"good" and [x.name for x in tmp_path.iterdir()] == ["old.bin"]


@pytest.mark.parametrize("content", [b"my notes\n", b"\x89PNG\r\n\x1a\n not ours"])
def test_out_that_xmr_did_not_write_is_refused(run, tmp_path, capsys, content):
    for cmd, out in ((["tsne", "--run", str(run)], "map.png"), (["encode", "a red circle", "--run", str(run)], "e.png"),
                     (["examples", "--run", str(run), "--n", "1", "--k", "1"], "ex.md")):
        p = tmp_path / out
        p.write_bytes(content)
        _one_line(capsys, main([*cmd, "--out", str(p)]), "is not a")
        assert p.read_bytes() == content
    # encode: a second run over its own output is fine; --force replaces a foreign file
    p = tmp_path / "own.png"
    assert main(["encode", "a red circle", "--run", str(run), "--out", str(p)]) == 0
    assert main(["encode", "a blue square", "--run", str(run), "--out", str(p)]) == 0
    q = tmp_path / "e.png"
    assert main(["encode", "a red circle", "--run", str(run), "--out", str(q), "--force"]) == 0
    assert Image.open(q).size[0] > 0


def test_out_that_is_a_link_fifo_or_device_is_never_replaced(run, tmp_path, capsys):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    link = tmp_path / "link.png"
    link.symlink_to(target)
    fifo = tmp_path / "f.png"
    os.mkfifo(fifo)
    for out, needle in ((link, "refusing to replace"), (fifo, "refusing to replace"), ("/dev/null", "cannot write")):
        _one_line(capsys, main(["encode", "a red circle", "--run", str(run), "--out", str(out), "--force"]), needle)
    assert target.read_text() == "keep me" and link.is_symlink()


def test_export_refuses_foreign_files_and_keeps_its_own(run, tmp_path, capsys):
    out = tmp_path / "exp"
    assert main(["export", "--run", str(run), "--format", "projector", "--out", str(out)]) == 0
    assert main(["export", "--run", str(run), "--format", "projector", "--out", str(out)]) == 0  # its own: fine
    meta = next(out.glob("*-metadata.tsv"))
    meta.write_text("edited by hand")
    _one_line(capsys, main(["export", "--run", str(run), "--format", "projector", "--out", str(out)]), "not an export")
    assert meta.read_text() == "edited by hand"


def test_lock_file_symlink_is_never_followed(tmp_path):
    from xmr_core.bundle.folders import RunLock, lock_path

    victim = tmp_path / "victim.txt"
    victim.write_text("important")
    run_dir = tmp_path / "ck" / "r"
    run_dir.parent.mkdir()
    lock_path(run_dir).symlink_to(victim)
    with pytest.raises(XmrError, match="symbolic link"):
        RunLock(run_dir).__enter__()
    assert victim.read_text() == "important"
    lock_path(run_dir).unlink()
    os.link(victim, lock_path(run_dir))  # a hard link to another file: refused too
    with pytest.raises(XmrError, match="not a plain file"):
        RunLock(run_dir).__enter__()
    assert victim.read_text() == "important"


def _fake_run(folder: Path, tag: str) -> Path:
    folder.mkdir(parents=True)
    for f in ("config.json", "model.pt", "last.pt"):
        (folder / f).write_text(tag)
    return folder


def test_overwrite_move_is_one_swap_and_an_interrupted_move_is_recovered(tmp_path, monkeypatch):
    from xmr_core.bundle import folders
    from xmr_core.bundle.run import list_runs

    ck = tmp_path / "ck"
    _fake_run(ck / "r", "old")
    new = _fake_run(ck / ".r.new-1-a", "new")
    folders.promote(new, ck / "r")  # RENAME_EXCHANGE where available, else two renames
    assert (ck / "r" / "model.pt").read_text() == "new" and sorted(os.listdir(ck)) == ["r"]
    # the two-rename fallback, killed between its renames (by a dead pid's names): list_runs repairs it
    dead = 2 ** 22 + 7
    shutil.rmtree(ck / "r")
    _fake_run(ck / f".r.old-{dead}-b", "old")
    _fake_run(ck / f".r.new-{dead}-c", "new")
    assert [p.name for p in list_runs(ck)] == ["r"]
    assert (ck / "r" / "model.pt").read_text() == "new" and not [p for p in os.listdir(ck) if "-" in p]
    # killed before the new run had a checkpoint: the old run comes back
    shutil.rmtree(ck / "r")
    _fake_run(ck / f".r.old-{dead}-d", "old")
    (ck / f".r.new-{dead}-e").mkdir()
    assert [p.name for p in list_runs(ck)] == ["r"] and (ck / "r" / "model.pt").read_text() == "old"
    monkeypatch.setattr(folders, "_exchange", lambda a, b: False)
    folders.promote(_fake_run(ck / ".r.new-1-f", "newer"), ck / "r")
    assert (ck / "r" / "model.pt").read_text() == "newer" and sorted(os.listdir(ck)) == ["r"]


def test_stale_staging_folder_is_cleaned_by_the_next_training(tmp_path):
    from xmr_core.train.runfolder import prepare

    dead = 2 ** 22 + 9
    stale = tmp_path / f".r.new-{dead}-x"
    stale.mkdir()
    (stale / "vectors.bin").write_text("junk")
    live = tmp_path / f".r.new-{os.getpid()}-y"
    live.mkdir()
    staging = prepare(tmp_path / "r", resume=False, overwrite=False)
    assert not stale.exists() and live.exists() and staging.exists()


# ---- 2. bundles are checked ------------------------------------------------------------------------------
def _damage_weights(run: Path, fn) -> str:
    sd = torch.load(run / "model.pt", weights_only=True)
    key = next(k for k, v in sd.items() if v.is_floating_point() and v.ndim > 1)
    sd[key] = fn(sd[key])
    torch.save(sd, run / "model.pt")
    return key


@pytest.mark.parametrize("damage,needle", [
    (lambda t: t.to(torch.int64), "is int64"),
    (lambda t: t.to(torch.float64), "is float64"),
    (lambda t: t.fill_(float("nan")), "NaN"),
    (lambda t: t.fill_(float("inf")), "NaN or infinite"),
    (lambda t: t[:1], "has shape"),
])
def test_weights_are_checked_against_the_architecture(run, capsys, damage, needle):
    key = _damage_weights(run, damage)
    line = _one_line(capsys, main(["evaluate", "--run", str(run)]), needle)
    assert key in line and "model.pt" in line


def test_absurd_network_is_refused_before_allocating(run, capsys):
    cfg = json.loads((run / "config.json").read_text())
    cfg["model"].update(width=4.0, input_size=1024, embedding_size=4096, blocks=[50, 50, 50])
    (run / "config.json").write_text(json.dumps(cfg))
    t0 = time.time()
    _one_line(capsys, main(["evaluate", "--run", str(run)]), "refused before allocating")
    assert time.time() - t0 < 20


def _embed(run: Path) -> Path:
    assert main(["embed", "--run", str(run)]) == 0
    return next((run / "embeddings").glob("*-test.npz"))


@pytest.mark.parametrize("damage", ["truncate", "nan", "short", "ids", "junk"])
def test_bad_embedding_caches_are_recomputed_with_one_line(run, capsys, damage):
    path = _embed(run)
    good = dict(np.load(path))
    capsys.readouterr()
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "junk":
        path.write_bytes(b"PK\x03\x04 not a zip at all")
    else:
        bad = dict(good)
        if damage == "nan":
            bad["images"] = good["images"].copy()
            bad["images"][0] = np.nan
        elif damage == "short":
            bad["images"] = good["images"][:5]
        else:
            bad["image_ids"] = good["image_ids"][::-1].copy()
        np.savez(path, **bad)
    assert main(["export", "--run", str(run), "--format", "parquet", "--out", str(run.parent / "x")]) == 0
    notes = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and "recomputing" in notes[0] and str(path) in notes[0]
    fresh = np.load(path)
    assert np.isfinite(fresh["images"]).all() and fresh["images"].shape == good["images"].shape
    assert fresh["image_ids"].tolist() == good["image_ids"].tolist()


def test_metrics_and_maps_carry_the_weights_fingerprint(run, capsys):
    from xmr_core.facade.explorer import Explorer
    from xmr_core.bundle.run import load_run

    assert main(["evaluate", "--run", str(run), "--json"]) == 0
    r = load_run(run)
    assert json.loads((run / "metrics.json").read_text())["weights"] == r.weights_sha256
    assert r.metrics is not None
    assert main(["tsne", "--run", str(run)]) == 0
    tsne_json = json.loads(next((run / "tsne").glob("*/tsne.json")).read_text())
    assert tsne_json["weights"] == r.weights_sha256
    # the weights change (a training finished after this evaluation): the old figures are not shown
    _damage_weights(run, lambda t: t * 0.5)
    r2 = load_run(run)
    assert r2.weights_sha256 != r.weights_sha256 and r2.metrics is None
    assert Explorer(run, split="test").metrics() is None


def test_a_map_that_does_not_fit_is_refitted(run, capsys):
    from xmr_core.facade.explorer import Explorer

    assert main(["tsne", "--run", str(run)]) == 0
    folder = next((run / "tsne").glob("*-test"))
    np.save(folder / "coords.npy", np.full((5, 2), np.nan, np.float32))  # 5 points for a larger split
    ex = Explorer(run, split="test")
    assert len(ex.tsne.coords) == ex.n_images + ex.n_captions and np.isfinite(ex.tsne.coords).all()
    assert "note:" in capsys.readouterr().err


# ---- 3. runs know their data ---------------------------------------------------------------------------
def test_a_relative_dataset_path_elsewhere_is_refused(tiny_ds, tmp_path, monkeypatch, capsys):  # noqa: F811
    from xmr_core.train import train
    from test_train import ENC, MOD, TR
    from dataclasses import replace

    spec, images = tiny_ds
    ds_dir = tmp_path / "a" / "ds"
    shutil.copytree(Path(spec).parent, ds_dir)
    monkeypatch.chdir(tmp_path / "a")
    run = tmp_path / "run"
    train(run, "ds/" + Path(spec).name, "ds/images", ENC, MOD, replace(TR, val_every=0, max_steps=1), progress=False)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["dataset"]["spec"] == "ds/" + Path(spec).name and len(cfg["dataset"]["sha256"]) == 64
    assert Path(cfg["dataset"]["resolved"]).is_absolute()
    monkeypatch.setenv("XMR_RELEVANCE", "word-vectors")
    # from another folder the resolved path still finds the very file
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "b")
    assert main(["evaluate", "--run", str(run), "--json"]) == 0
    metrics = (run / "metrics.json").read_bytes()
    # the file itself changed (another dataset under that name): refused, metrics untouched
    data = json.loads((ds_dir / Path(spec).name).read_text())
    data["images"] = data["images"][:-1]
    (ds_dir / Path(spec).name).write_text(json.dumps(data))
    capsys.readouterr()
    for cmd in (["evaluate"], ["tsne"], ["export", "--format", "parquet"]):
        _one_line(capsys, main([*cmd, "--run", str(run)]), "pass --dataset")
    assert (run / "metrics.json").read_bytes() == metrics
    # named explicitly, it is the user's choice; it is not the run's own test set, so metrics.json stays
    assert main(["evaluate", "--run", str(run), "--dataset", str(ds_dir / Path(spec).name),
                 "--images-dir", str(ds_dir / "images")]) == 0
    assert (run / "metrics.json").read_bytes() == metrics


# ---- 4. bounded reads ------------------------------------------------------------------------------------
def test_devices_fifos_and_links_to_them_are_refused_unread(tmp_path, capsys):
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    (tmp_path / "rand.csv").symlink_to("/dev/urandom")
    os.mkfifo(tmp_path / "fifo.json")
    (tmp_path / "dir.json").mkdir()
    for name in ("zero.json", "rand.csv", "fifo.json", "dir.json"):
        t0 = time.time()
        _one_line(capsys, main(["data", "info", str(tmp_path / name)]), "not a regular file")
        assert time.time() - t0 < 10
    (tmp_path / "v.bin").symlink_to("/dev/zero")
    _one_line(capsys, main(["encode", "a", "--vectors", str(tmp_path / "v.bin"), "--out", str(tmp_path / "o.png")]),
              "not a regular file")
    from xmr_core.data.images import read_image
    from xmr_core.errors import ImageError

    for src in ("/dev/zero", str(tmp_path / "fifo.json")):
        with pytest.raises(ImageError, match="not a regular file"):
            read_image(src)


def test_model_pt_linked_to_dev_zero_is_refused(run, capsys):
    (run / "model.pt").unlink()
    (run / "model.pt").symlink_to("/dev/urandom")
    _one_line(capsys, main(["evaluate", "--run", str(run)]), "model.pt")


@pytest.mark.parametrize("split,needle", [("train+bogus", "'bogus'"), ("train++val", "empty part"),
                                          ("+train", "empty part"), ("train+train", "named twice"),
                                          ("train+ val", "' val'")])
def test_split_expressions_are_checked_part_by_part(small_demo, split, needle):
    from xmr_core.errors import DatasetError

    with pytest.raises(DatasetError, match=needle):
        small_demo.split(split)
    assert len(small_demo.split("train+val")) == len(small_demo.split("train")) + len(small_demo.split("val"))


# ---- 5. escaped output ----------------------------------------------------------------------------------
def test_csv_cells_that_would_be_formulas_are_neutralised():
    from xmr_core.facade.app_selection import RESULT_COLUMNS, to_csv

    evil = ["=HYPERLINK(\"http://x\",\"y\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    rows = [{"query": e, "rank": 1, "caption": e, "distance": -0.5, "image_id": e} for e in evil]
    import csv

    got = list(csv.DictReader(io.StringIO(to_csv(rows, RESULT_COLUMNS).decode(), newline="")))
    for e, r in zip(evil, got):
        assert r["caption"] == "'" + e and r["query"] == "'" + e and r["image_id"] == "'" + e
        assert r["distance"] == "-0.5"  # a number we computed stays a number
    assert list(csv.DictReader(io.StringIO(to_csv([{"caption": "a red circle"}], RESULT_COLUMNS).decode())))[0][
        "caption"] == "a red circle"


def test_markdown_and_html_in_dataset_text_are_shown_as_text():
    from xmr_core.facade.app_support import html_text, md_text

    for s in ("![x](http://evil/a.png)", "<img src=http://evil/a.png>", "[click](javascript:alert(1))",
              ":red[big] :material/home:", "$x^2$", "# heading", "- item", "a_b*c*", "&lt;b&gt;"):
        out = md_text(s)
        assert all(out[i - 1] == "\\" for i, ch in enumerate(out) if ch in "![]()<>:$#-_*&" and i > 0), out
        assert not out.startswith(tuple("![]()<>:$#-_*&"))
    assert md_text("two\nlines") == "two lines"
    assert html_text("<a href='x'>&") == "&lt;a href=&#x27;x&#x27;&gt;&amp;"


# ---- 6. stops stop ----------------------------------------------------------------------------------
def _sigterm_after(args: list[str], env: dict, wait_for: str, timeout: float = 240,
                   by_char: bool = False) -> subprocess.CompletedProcess:
    """SIGTERM once ``wait_for`` shows on stderr: read by line, or ``by_char`` (a bar's redraw ends with "\r",
    not a newline: a short stage's bar would otherwise be read only once it closes)."""
    p = subprocess.Popen([sys.executable, "-m", "xmr_core", *args], cwd=ROOT, env=dict(os.environ, **env),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0, seen = time.time(), ""
    while time.time() - t0 < timeout and wait_for not in seen[-200:] and p.poll() is None:
        chunk = p.stderr.read(1) if by_char else p.stderr.readline()
        if not chunk:
            break
        seen += chunk
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    return subprocess.CompletedProcess(p.args, p.returncode, out, seen + err)


def _last_message(stderr: str) -> str:
    """The last line on stderr that is not a progress bar's redraw (a bar closed on the way out may be
    drawn after the stop's one-line message, and a bar's "\r" redraw may precede it on its line)."""
    lines = [ln[ln.index("interrupted"):] if "interrupted" in ln else ln for ln in stderr.splitlines()]
    return [ln for ln in lines if ln.strip() and "%|" not in ln][-1]


def test_sigterm_during_demo_keeps_the_good_bundle(tmp_path):
    out = tmp_path / "ck" / "demo-fast"
    out.mkdir(parents=True)
    for f in ("config.json", "model.pt", "metrics.json"):
        (out / f).write_text("the good bundle")
    env = {"XMR_DATA_DIR": str(tmp_path / "data"), "XMR_RELEVANCE": "word-vectors"}
    r = _sigterm_after(["demo", "--fast", "--force", "--out", str(out)], env, "step 1/", by_char=True)
    assert r.returncode not in (0, None) and "Traceback" not in r.stderr, r.stderr[-2000:]
    last = _last_message(r.stderr)
    assert last.startswith("interrupted") and "as it was" in last, last
    assert {p.name: p.read_text() for p in out.iterdir()} == {f: "the good bundle" for f in
                                                              ("config.json", "model.pt", "metrics.json")}
    assert sorted(p.name for p in out.parent.iterdir()) in (["demo-fast"], [".demo-fast.lock", "demo-fast"])


def test_sigterm_during_evaluate_is_one_line_and_non_zero(run, tmp_path):
    env = {"XMR_RELEVANCE": "word-vectors", "PYTHONUNBUFFERED": "1"}
    shutil.rmtree(run / "embeddings", ignore_errors=True)
    r = _sigterm_after(["evaluate", "--run", str(run)], env, "embed")
    assert r.returncode == 130 and "Traceback" not in r.stderr, r.stderr[-2000:]
    last = _last_message(r.stderr)
    assert last.startswith("interrupted (SIGTERM)") and ("kept" in last or "nothing was written" in last), last
    assert not list(run.rglob(".*.tmp-*"))


# ---- 7. the soft cases -----------------------------------------------------------------------------------
def test_big_endian_16bit_tiff_reads_like_little_endian():
    from xmr_core.data.images import read_image

    a = (np.arange(64 * 48).reshape(48, 64) * 20).astype(np.uint16)
    outs = []
    for order in (">u2", "<u2"):
        b = io.BytesIO()
        Image.fromarray(a.astype(order)).save(b, format="TIFF")
        outs.append(np.asarray(read_image(b.getvalue())))
    assert outs[0].shape == (48, 64, 3) and (outs[0] == outs[1]).all() and outs[0].max() == 255


def test_cuda_without_cuda_and_non_ascii_name_and_surrogates(tiny_ds, tmp_path, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    spec, images = tiny_ds
    _one_line(capsys, main(["train", "--dataset", spec, "--images-dir", images, "--out", str(tmp_path / "r"),
                            "--device", "cuda"]), "no CUDA device")
    assert not (tmp_path / "r").exists()
    monkeypatch.setenv("XMR_CHECKPOINTS", str(tmp_path / "ck"))
    _one_line(capsys, main(["train", "--name", "café"]), "ASCII letters")
    from xmr_core.text.encoder import TextEncoder
    from xmr_core.errors import EncodingError
    from xmr_core.config import EncodingConfig

    enc = TextEncoder.fit(["a red circle", "a blue square"] * 5, EncodingConfig(canvas=64, w2v_epochs=1))
    with pytest.raises(EncodingError, match="surrogate"):
        enc.encode("a red \ud800 circle")
