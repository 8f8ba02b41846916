"""Every user-facing value is checked at the edge (issue 14): each flag of train / evaluate / encode /
export / tsne / examples and each field of a bundle's config.json and encoder.json, fed an
out-of-range, a wrong-type and a NaN value, gives one ``error: ...`` line naming the flag or the
file and field, and exit 2 (``cli.main`` in-process: the same code path as the command line).
"""
from __future__ import annotations

import json
import math
import shutil
from dataclasses import fields, replace
from pathlib import Path

import pytest

from test_train import ENC, MOD, TR, tiny_ds  # noqa: F401 - tiny_ds is a fixture used below
from xmr_core.cli.commands import main
from xmr_core.cli.args import flag_name
from xmr_core.config import EncodingConfig, ModelConfig, TrainConfig

KINDS = ("out-of-range", "wrong-type", "nan")
CONFIGS = (("encoding", EncodingConfig), ("model", ModelConfig), ("train", TrainConfig))


def _bad_value(f, kind: str):
    """A JSON value of ``kind`` for config field ``f``, derived from the ranges beside the field."""
    d, m = f.default, f.metadata
    if kind == "nan":
        return [math.nan] * len(d) if isinstance(d, tuple) else math.nan
    if kind == "wrong-type":
        return 5 if isinstance(d, str) else "abc" if not isinstance(d, bool) else "yes"
    if isinstance(d, bool):
        return 2
    if isinstance(d, tuple):
        return [m["hi"] * 10 + 1] * len(d)
    if isinstance(d, str):
        return "bogus"
    if m.get("choices"):
        return max(m["choices"]) + 1
    assert m.get("hi") is not None, f"{f.name}: a number field needs an upper bound (config.opt(hi=...))"
    return m["hi"] * 10 + 1 if isinstance(d, int) else float(m["hi"]) * 10 + 1


def _one_error_line(capsys, rc: int, *needles: str) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2, (rc, err[-1500:])
    assert "Traceback" not in err, err[-1500:]
    assert len(lines) == 1 and lines[0].startswith("error: "), err[-1500:]
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def bundle(tiny_ds, tmp_path_factory):  # noqa: F811
    from xmr_core.train import train

    spec, images = tiny_ds
    run = tmp_path_factory.mktemp("values") / "run"
    train(run, spec, images, ENC, MOD, replace(TR, val_every=0, max_steps=1), progress=False)
    return run


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("XMR_CHECKPOINTS", str(tmp_path / "ck"))
    monkeypatch.setenv("XMR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XMR_RELEVANCE", "word-vectors")
    return tmp_path


# ---- every config flag of train ------------------------------------------------------------------------
def _flag_cases():
    for _, cls in CONFIGS:
        for f in fields(cls):
            if flag_name(f) is not None:
                for kind in KINDS:
                    yield pytest.param(f, kind, id=f"--{flag_name(f)}-{kind}")


def _flag_text(f, kind: str) -> str:
    v = _bad_value(f, kind)
    return "nan" if kind == "nan" else str(int(v) if isinstance(v, bool) else v)


@pytest.mark.parametrize("f,kind", list(_flag_cases()))
def test_train_config_flag_bad_value(f, kind, env, capsys):
    flag = "--" + flag_name(f)
    rc = main(["train", "--max-steps", "1", flag, _flag_text(f, kind)])
    _one_error_line(capsys, rc, flag)
    assert not (env / "ck").exists() or not any((env / "ck").iterdir())  # refused before any folder


def test_every_number_field_has_a_range():
    """A field added without bounds would let a flag or a bundle ask for anything."""
    for _, cls in CONFIGS:
        for f in fields(cls):
            if isinstance(f.default, (int, float, tuple)) and not isinstance(f.default, bool):
                m = f.metadata
                assert m.get("choices") or m.get("hi") is not None, f"{cls.__name__}.{f.name} has no upper bound"


# ---- train's other flags, and the other commands' flags ---------------------------------------------------
def _command_cases(bundle: Path, spec: str, images: str, tmp: Path):
    """(args, needle) for every non-config flag of train / evaluate / encode / export / tsne / examples."""
    a_file = tmp / "a_file.txt"
    a_file.write_text("x")
    proc = "/proc/self/nope/x"
    run = ["--run", str(bundle)]
    cases = []
    for kind, name, out in (("out-of-range", "../escape", proc), ("wrong-type", "a/b", str(a_file)),
                            ("nan", ".nan", "/proc/nan")):
        cases += [
            (["train", "--name", name], "--name"),
            (["train", "--out", out, "--dataset", spec, "--images-dir", images], str(Path(out).parent)
             if kind != "wrong-type" else str(a_file)),
            (["train", "--recipe", {"out-of-range": "bogus", "wrong-type": "5", "nan": "nan"}[kind]], "--recipe"),
        ]
    for cmd in ("evaluate", "tsne", "export", "examples", "embed"):
        extra = ["--format", "parquet"] if cmd == "export" else []
        cases += [
            ([cmd, "--run", str(tmp / "no-such-run"), *extra], "no-such-run"),
            ([cmd, "--run", str(a_file), *extra], "a_file.txt"),
            ([cmd, "--run", "nan", *extra], "nan"),
            ([cmd, *run, "--split", "nope", *extra], "nope"),
            ([cmd, *run, "--split", "5", *extra], "'5'"),
            ([cmd, *run, "--split", "nan", *extra], "'nan'"),
            ([cmd, *run, "--dataset", str(tmp / "none.json"), *extra], "none.json"),
            ([cmd, *run, "--dataset", str(a_file), *extra], "unknown dataset format"),
            ([cmd, *run, "--dataset", "demo:99999999999999999999", *extra], "demo:N"),
            ([cmd, *run, "--dataset", spec, "--images-dir", str(a_file), *extra], "missing"),
            ([cmd, *run, "--dataset", spec, "--images-dir", "nan", *extra], "missing"),
            ([cmd, *run, "--dataset", spec, "--images-dir", proc, *extra], "missing"),
            ([cmd, *run, "--skip-missing=nan", *extra], "--skip-missing"),
        ]
    for cmd, flag in (("tsne", "--out"), ("examples", "--out"), ("export", "--out")):
        extra = ["--format", "parquet"] if cmd == "export" else []
        folder = cmd == "export"
        cases += [([cmd, *run, flag, proc, *extra], "cannot write"),
                  ([cmd, *run, flag, str(tmp) if not folder else str(a_file), *extra],
                   "is a folder" if not folder else "is a file"),
                  ([cmd, *run, flag, "/proc/nan", *extra], "cannot write")]
    for flag in ("--n", "--k"):
        cases += [(["examples", *run, flag, v], flag) for v in ("0", "1000", "-3", "abc", "1.5", "nan", "inf")]
    cases += [(["export", *run, "--format", v], "--format") for v in ("bogus", "5", "nan")]
    cases += [(["evaluate", *run, "--backend", v], "--backend") for v in ("magic", "5", "nan")]
    cases += [(["evaluate", *run, "--json=1"], "--json")]
    enc = ["encode", "a red circle", "--vectors", str(bundle / "vectors.bin")]
    cases += [
        (["encode", "x" * 20_000, *run], "20,000 characters"),
        (["encode", "", *run], "empty"),
        (["encode", "nan", *run], "vocabulary"),
        ([*enc, "--out", proc], "cannot write"),
        ([*enc, "--out", str(tmp)], "is a folder"),
        ([*enc, "--out", str(tmp / "x.nan")], "cannot write"),
        (["encode", "a", "--vectors", str(tmp / "none.bin")], "not found"),
        (["encode", "a", "--vectors", str(a_file)], "a_file.txt"),
        (["encode", "a", "--vectors", "nan"], "not found"),
        (["encode", "a", "--run", str(tmp / "none")], "no such run folder"),
        (["encode", "a", "--run", str(a_file)], "a_file.txt"),
        (["encode", "a", "--run", "nan"], "nan"),
        (["encode", "a", "--json=nan"], "--json"),
    ]
    return cases


def test_command_flags_bad_values(bundle, tiny_ds, tmp_path, env, capsys, monkeypatch):  # noqa: F811
    """Every other flag of the six commands: one line, exit 2, the flag or the value named."""
    spec, images = tiny_ds
    import xmr_core.evaluation.evaluate as ev

    monkeypatch.setattr(ev, "_MINILM", [None])  # word vectors for relevance: no model download
    cases = _command_cases(bundle, spec, images, tmp_path)
    assert len(cases) >= 100
    failures = []
    for args, needle in cases:
        rc = main(args)
        err = capsys.readouterr().err
        lines = [ln for ln in err.splitlines() if ln.strip()]
        if rc != 2 or "Traceback" in err or len(lines) != 1 or not lines[0].startswith("error: ") \
                or needle not in lines[0]:
            failures.append((args[:6], rc, needle, err[-400:]))
    assert failures == [], failures
    assert not (bundle / "export").exists() and not (bundle / "metrics.json").exists()


def test_env_values_checked(bundle, env, monkeypatch, capsys):
    monkeypatch.setenv("XMR_RELEVANCE", "telepathy")
    _one_error_line(capsys, main(["evaluate", "--run", str(bundle)]), "XMR_RELEVANCE")
    monkeypatch.setenv("XMR_RELEVANCE", "word-vectors")
    monkeypatch.setenv("XMR_CHECKPOINTS", str(env / "file"))
    (env / "file").write_text("x")
    _one_error_line(capsys, main(["train", "--max-steps", "1"]), str(env / "file"))


# ---- every bundle field ------------------------------------------------------------------------------------
def _bundle_cases():
    for section, cls in CONFIGS:
        for f in fields(cls):
            for kind in KINDS:
                yield pytest.param(section, f, kind, id=f"{section}.{f.name}-{kind}")


def _copy_bundle(bundle: Path, to: Path) -> Path:
    to.mkdir()
    for name in ("config.json", "encoder.json", "vectors.bin", "model.pt"):
        shutil.copy(bundle / name, to / name)
    return to


@pytest.mark.parametrize("section,f,kind", list(_bundle_cases()))
def test_bundle_config_field_bad_value(bundle, section, f, kind, tmp_path, env, capsys):
    run = _copy_bundle(bundle, tmp_path / "run")
    cfg = json.loads((run / "config.json").read_text())
    cfg[section][f.name] = _bad_value(f, kind)
    (run / "config.json").write_text(json.dumps(cfg))
    _one_error_line(capsys, main(["evaluate", "--run", str(run)]), "config.json", f"{section}.{f.name}")


@pytest.mark.parametrize("f,kind", [pytest.param(f, k, id=f"{f.name}-{k}") for f in fields(EncodingConfig)
                                    for k in KINDS])
def test_encoder_json_field_bad_value(bundle, f, kind, tmp_path, env, capsys):
    run = _copy_bundle(bundle, tmp_path / "run")
    meta = json.loads((run / "encoder.json").read_text())
    meta["encoding"][f.name] = _bad_value(f, kind)
    (run / "encoder.json").write_text(json.dumps(meta))
    _one_error_line(capsys, main(["encode", "a red circle", "--run", str(run), "--out", str(tmp_path / "x.png")]),
                    "encoder.json", f"encoding.{f.name}")
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("key,value,needle", [
    ("lo", [1.0], None), ("lo", "abc", None), ("hi", [math.nan] * 36, "NaN"), ("lo", [True] * 36, None),
    ("encoding", 5, "unreadable"), ("encoding", {"canvas": 1_000_000}, "encoding.canvas"),
])
def test_encoder_json_other_bad_values(bundle, key, value, needle, tmp_path, env, capsys):
    run = _copy_bundle(bundle, tmp_path / "run")
    meta = json.loads((run / "encoder.json").read_text())
    meta[key] = value
    (run / "encoder.json").write_text(json.dumps(meta))
    _one_error_line(capsys, main(["evaluate", "--run", str(run)]), "encoder.json", needle or f"'{key}'")


@pytest.mark.parametrize("edit,needle", [
    (lambda c: c.update(model=[1, 2]), "section 'model' must be an object"),
    (lambda c: c.pop("train"), "missing section 'train'"),
    (lambda c: c["dataset"].update(spec=5), "dataset.spec"),
    (lambda c: c["model"].update(colour="red"), "unknown field"),
])
def test_bundle_config_structure(bundle, edit, needle, tmp_path, env, capsys):
    run = _copy_bundle(bundle, tmp_path / "run")
    cfg = json.loads((run / "config.json").read_text())
    edit(cfg)
    (run / "config.json").write_text(json.dumps(cfg))
    _one_error_line(capsys, main(["evaluate", "--run", str(run)]), "config.json", needle)
