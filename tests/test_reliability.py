"""Reliability cases (docs/RELIABILITY.md) not covered elsewhere: bad input through the CLI (one line on
stderr, exit 2, no traceback), odd images and non-ASCII text through the app's query handlers, a crash
while writing a checkpoint, and the "nothing trusted" rules (torch.load, Streamlit binding, uploads).
"""
from __future__ import annotations

import ast
import builtins
import io
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from test_train import ENC, MOD, TR, tiny_ds  # noqa: F401 - tiny_ds is a fixture used below

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xmr_core", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=180, env=dict(os.environ, **(env or {})))


def _clean_failure(r: subprocess.CompletedProcess, needle: str) -> None:
    """Exit 2, the message on one stderr line starting 'error:', no traceback."""
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and "Loading weights" not in ln]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr[-2000:]
    assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The session's fast demo run (shared with the app tests): (run folder, env for it)."""
    from test_app import fast_demo_run

    ck, data = fast_demo_run(tmp_path_factory)
    return ck / "demo-fast", {"XMR_CHECKPOINTS": str(ck), "XMR_DATA_DIR": str(data),
                              "XMR_RELEVANCE": "word-vectors"}


@pytest.fixture
def explorer(demo_run, monkeypatch):
    from xmr_core.facade.explorer import Explorer

    path, env = demo_run
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return Explorer(path)


def _vectors(tmp_path: Path, words: list[str]) -> Path:
    from gensim.models import KeyedVectors

    from xmr_core.text.vectors import save_vectors

    kv = KeyedVectors(36)
    kv.add_vectors(words, np.random.default_rng(0).normal(size=(len(words), 36)).astype(np.float32))
    p = tmp_path / "v.bin"
    save_vectors(kv, p)
    return p


# ---- CLI: bad input -> one line, exit 2 ----------------------------------------------------------
def test_cli_encode_empty_and_symbol_only_sentence(tmp_path):
    v = _vectors(tmp_path, ["a", "dog"])
    for sentence in ("", "   ", "🐶🐶 !!"):
        r = _cli("encode", sentence, "--vectors", str(v), "--out", str(tmp_path / "x.png"))
        _clean_failure(r, "empty")
    assert not (tmp_path / "x.png").exists()


def test_cli_encode_non_ascii(tmp_path):
    """Accents stay whole, CJK characters are one token each, emoji are dropped like punctuation."""
    v = _vectors(tmp_path, ["café", "naïve", "赤", "円", "dog", "über"])
    out = tmp_path / "x.png"
    r = _cli("encode", "Café NAÏVE 🐶 dog 赤い円 Über", "--vectors", str(v), "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    rec = json.loads(r.stdout)
    placed = [p["word"] if isinstance(p, dict) else p[0] for p in rec["placed"]]
    assert placed == ["café", "naïve", "dog", "赤", "円", "über"]
    assert rec["oov"] == ["い"]
    assert out.is_file() and Image.open(out).mode == "RGB"
    _clean_failure(_cli("encode", "ñandú 東京", "--vectors", str(v), "--out", str(out)), "vocabulary")


def test_cli_encode_unwritable_out(tmp_path):
    v = _vectors(tmp_path, ["a", "dog"])
    _clean_failure(_cli("encode", "a dog", "--vectors", str(v), "--out", str(tmp_path / "no" / "x.png")),
                   "cannot write")
    _clean_failure(_cli("encode", "a dog", "--vectors", str(v), "--out", str(tmp_path / "x.weird")),
                   "cannot write")


@pytest.mark.parametrize("name,content,needle", [
    ("bin.csv", b"\x00\x01\xff\xfe\x80garbage", "malformed CSV"),
    ("cols.csv", b"img,text\na.png,x\n", "missing column 'image'"),
    ("empty.csv", b"", "missing column 'image'"),
    ("blank.csv", b"image,caption\na.png,   \n", "empty caption"),
    ("trunc.json", b'{"images": [{"filename": "a.png", "spl', "malformed JSON"),
    ("latin1.json", '{"images": [], "x": "é"}'.encode("latin-1"), "not UTF-8"),
    ("list.json", b"[1, 2]", "missing key 'images'"),
    ("num.json", b'{"images": [{"filename": 5, "split": "test", "sentences": [{"raw": "x"}]}]}', "must be strings"),
    ("coco.json", b'{"images": 3, "annotations": []}', "must be lists"),
    ("passwd.json", b'{"images": [{"filename": "../../etc/passwd", "split": "test", "sentences": [{"raw": "x"}]}]}',
     "escapes the images folder"),
    ("abs.json", b'{"images": [{"filename": "/etc/passwd", "split": "test", "sentences": [{"raw": "x"}]}]}',
     "absolute"),
    ("esc.csv", b"image,caption\n../../etc/passwd,hi\n", "escapes"),
])
def test_cli_data_info_bad_dataset(tmp_path, name, content, needle):
    (tmp_path / "imgs").mkdir()
    p = tmp_path / name
    p.write_bytes(content)
    r = _cli("data", "info", str(p), "--images-dir", str(tmp_path / "imgs"))
    _clean_failure(r, needle)
    assert str(p) in r.stderr


@pytest.mark.parametrize("spec", ["demo:abc", "demo:0", "demo:-3"])
def test_cli_data_info_bad_demo_size(spec, tmp_path):
    _clean_failure(_cli("data", "info", spec, env={"XMR_DATA_DIR": str(tmp_path)}), "demo:N")
    assert not any(tmp_path.iterdir())  # nothing generated


def test_cli_evaluate_truncated_and_malicious_model(demo_run, tmp_path):
    path, env = demo_run
    bad = tmp_path / "trunc"
    bad.mkdir()
    for f in ("config.json", "vectors.bin", "encoder.json"):
        shutil.copy(path / f, bad / f)
    data = (path / "model.pt").read_bytes()
    (bad / "model.pt").write_bytes(data[: len(data) // 3])
    _clean_failure(_cli("evaluate", "--run", str(bad), env=env), "not a loadable weights file")

    class Boom:
        def __reduce__(self):
            return (os.system, (f"echo pwned > {tmp_path / 'pwned'}",))

    torch.save({"w": Boom()}, bad / "model.pt")
    _clean_failure(_cli("evaluate", "--run", str(bad), env=env), "refused for safety")
    assert not (tmp_path / "pwned").exists()
    # a config that does not match the weights (the head's size: every backbone has one)
    cfg = json.loads((path / "config.json").read_text())
    cfg["model"]["embedding_size"] = cfg["model"]["embedding_size"] * 2
    (bad / "config.json").write_text(json.dumps(cfg))
    (bad / "model.pt").write_bytes(data)
    _clean_failure(_cli("evaluate", "--run", str(bad), env=env), "does not match")


@pytest.mark.parametrize("args,needle", [
    (["evaluate", "--bogus"], "the following arguments are required"),
    (["data", "info", "demo", "--nope"], "unrecognized arguments"),
    (["train", "--epochs", "abc"], "invalid int value"),
    (["evaluate", "--run", "x", "--backend", "magic"], "invalid choice"),
    (["frobnicate"], "invalid choice"),
])
def test_cli_unknown_option_or_bad_value(args, needle):
    r = _cli(*args)
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr


# ---- the app's query handlers: odd images and non-ASCII text --------------------------------------
def _bytes(im: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


def test_app_handler_16bit_png_and_cmyk_jpeg(explorer):
    from xmr_core.facade.app_support import handle_image_query

    a16 = (np.arange(48 * 64, dtype=np.uint32).reshape(48, 64) * 21).astype(np.uint16)
    png16 = _bytes(Image.fromarray(a16), "PNG")
    assert Image.open(io.BytesIO(png16)).mode.startswith("I;16")
    cmyk = _bytes(Image.new("CMYK", (64, 48), (0, 200, 200, 0)), "JPEG")
    assert Image.open(io.BytesIO(cmyk)).mode == "CMYK"
    la = _bytes(Image.new("LA", (40, 30), (120, 128)), "PNG")
    for name, data in (("deep.png", png16), ("print.jpg", cmyk), ("gray-alpha.png", la)):
        res, err = handle_image_query(explorer, data, name, k=3)
        assert err is None, err
        assert res.image.mode == "RGB" and len(res.results) == 3
    # 16-bit grey is scaled to 8 bits, not clipped to white
    res, _ = handle_image_query(explorer, png16, "deep.png", k=1)
    assert len(set(np.asarray(res.image)[..., 0].ravel().tolist())) > 10
    res, _ = handle_image_query(explorer, cmyk, "print.jpg", k=1)
    r, g, b = np.asarray(res.image)[20, 30].tolist()
    assert r > 200 and g < 120 and b < 120  # CMYK (0, 200, 200, 0) is red


def test_app_handler_non_ascii_sentences(explorer):
    from xmr_core.facade.app_support import handle_text_query

    vocab = [w for w in explorer.run.encoder.word_index if len(w) > 2][:3]
    res, err = handle_text_query(explorer, " ".join(vocab) + " café 🐶 赤い円", k=3)
    assert err is None and len(res.results) == 3
    assert any("café" in n and "赤" in n for n in res.notes)  # reported as not in the vocabulary
    for bad, needle in (("🐶🐶🐶", "empty"), ("\u200b\x00", "empty"), ("café naïve 東京", "vocabulary")):
        res, err = handle_text_query(explorer, bad, k=3)
        assert res is None and needle in err


def test_app_uploads_are_never_written(explorer, monkeypatch):
    """An image query reads the upload from memory: no file is opened for writing."""
    from xmr_core.facade.app_support import handle_image_query

    png = _bytes(Image.new("RGB", (64, 48), (200, 30, 30)), "PNG")
    assert handle_image_query(explorer, png, "warm.png", k=3)[1] is None  # caches built, if any
    writes = []
    real_open = builtins.open

    def spy(file, mode="r", *a, **kw):
        if any(c in mode for c in "wax+"):
            writes.append(str(file))
        return real_open(file, mode, *a, **kw)

    monkeypatch.setattr(builtins, "open", spy)
    monkeypatch.setattr(io, "open", spy)
    for data in (png, b"not an image", b""):
        handle_image_query(explorer, data, "../../etc/evil.png", k=3)
    assert writes == []


def _file_writes(source: str, name: str = "<src>") -> list[str]:
    """Calls in ``source`` that write files. ``x.save(buf, ...)`` into a name bound to ``io.BytesIO()``
    in the same source is an in-memory encode (the map's JPEG thumbnails), not a write."""
    tree = ast.parse(source, name)
    buffers = {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
               and isinstance(node.value, ast.Call)
               and (getattr(node.value.func, "attr", None) or getattr(node.value.func, "id", None)) == "BytesIO"
               for t in node.targets if isinstance(t, ast.Name)}
    bad = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        fn = node.func
        call = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
        in_memory = call == "save" and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id in buffers
        if call in ("write_bytes", "write_text", "NamedTemporaryFile", "mkstemp", "save", "tofile") and not in_memory:
            bad.append(f"{name}:{node.lineno} {call}")
        if call == "open":
            modes = [a.value for a in node.args[1:2] if isinstance(a, ast.Constant)]
            modes += [k.value.value for k in node.keywords if k.arg == "mode" and isinstance(k.value, ast.Constant)]
            if any(isinstance(m, str) and any(c in m for c in "wax+") for m in modes):
                bad.append(f"{name}:{node.lineno} open(..., {modes})")
    return bad


def test_app_code_has_no_upload_writes():
    """Static check: the app's pages and helpers never write files (uploads stay in memory)."""
    # the check itself: a save to a path or an open for writing is caught, an encode into BytesIO is not
    assert _file_writes("im.save('x.png')\nbuf = io.BytesIO()\nim.save(buf, 'PNG')") == ["<src>:1 save"]
    assert _file_writes("open(p, 'wb')\nPath(p).write_text('x')") == ["<src>:1 open(..., ['wb'])", "<src>:2 write_text"]
    files = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), ROOT / "xmr_core" / "facade" / "app_support.py"]
    bad = []
    for f in files:
        bad += _file_writes(f.read_text(), f.name)
    assert bad == []


# ---- nothing trusted ----------------------------------------------------------------------------
def _py_files() -> list[Path]:
    skip = {".venv", "venv", ".git", "checkpoints", "test-artifacts", "data", "node_modules", "__pycache__"}
    return [p for p in ROOT.rglob("*.py") if not (set(p.relative_to(ROOT).parts[:-1]) & skip)]


def test_every_torch_load_is_weights_only():
    calls = []
    for f in _py_files():
        tree = ast.parse(f.read_text(), str(f))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"):
                ok = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                         for k in node.keywords)
                calls.append((f"{f.relative_to(ROOT)}:{node.lineno}", ok))
    assert calls, "expected torch.load calls (run.py, train.py)"
    assert [c for c, ok in calls if not ok] == []
    # and nothing else unpickles: no pickle.load(s), np.load only with allow_pickle=False
    for f in _py_files():
        src = f.read_text()
        if f.name == "test_reliability.py":
            continue
        assert "pickle.load" not in src, f
        assert "allow_pickle=True" not in src, f


def test_streamlit_config_binds_localhost_and_caps_uploads():
    import tomllib

    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["address"] == "127.0.0.1"
    assert 0 < cfg["server"]["maxUploadSize"] <= 50  # MB
    assert cfg["browser"]["gatherUsageStats"] is False
    assert cfg["client"]["showErrorDetails"] in ("none", False)  # no tracebacks shown to users


# ---- nothing lost: a crash while writing a checkpoint ----------------------------------------------
def _crashing_save(real_save):
    def save(obj, f, *a, **kw):
        buf = io.BytesIO()
        real_save(obj, buf, *a, **kw)
        f.write(buf.getvalue()[: len(buf.getvalue()) // 2])  # half of it reaches the temp file...
        raise OSError("disk full (simulated)")                 # ...then the write dies
    return save


def test_atomic_save_crash_keeps_previous(tmp_path, monkeypatch):
    from xmr_core.bundle.run import atomic_save

    p = tmp_path / "model.pt"
    atomic_save({"w": torch.arange(1000.0)}, p)
    before = p.read_bytes()
    monkeypatch.setattr(torch, "save", _crashing_save(torch.save))
    with pytest.raises(OSError, match="disk full"):
        atomic_save({"w": torch.zeros(1000)}, p)
    assert p.read_bytes() == before
    assert torch.equal(torch.load(p, weights_only=True)["w"], torch.arange(1000.0))
    assert sorted(x.name for x in tmp_path.iterdir()) == ["model.pt"]  # the half-written temp file is gone


def test_crash_while_checkpointing_keeps_last_good(tiny_ds, tmp_path, monkeypatch):  # noqa: F811
    """Training dies inside torch.save: last.pt and model.pt are the previous, loadable ones."""
    from xmr_core.bundle.run import load_run
    from xmr_core.train import train

    spec, images = tiny_ds
    run_dir = tmp_path / "run"
    train(run_dir, spec, images, ENC, MOD, replace(TR, val_every=0, epochs=1), progress=False)
    last, model = (run_dir / "last.pt").read_bytes(), (run_dir / "model.pt").read_bytes()
    monkeypatch.setattr(torch, "save", _crashing_save(torch.save))
    with pytest.raises(OSError, match="disk full"):
        train(run_dir, spec, images, resume=True, resume_overrides={"epochs": 2}, progress=False)
    monkeypatch.undo()
    assert (run_dir / "last.pt").read_bytes() == last
    assert (run_dir / "model.pt").read_bytes() == model
    assert not list(run_dir.glob("*.tmp"))
    load_run(run_dir)
    assert torch.load(run_dir / "last.pt", weights_only=True)["epoch"] >= 0
    # and --resume continues from it
    res = train(run_dir, spec, images, resume=True, resume_overrides={"epochs": 2}, progress=False)
    assert res.epochs_done == 2
