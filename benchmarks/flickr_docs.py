"""Real-data figures backed by committed files: ``results/flickr8k/<run>/`` and the tables made from them.

    python -m benchmarks.flickr_docs collect checkpoints/f8k-default --as f8k-default \\
        --note "the default recipe, one thread"                       # copy a run's small files
    python -m benchmarks.flickr_docs reference --as cca-reference \\
        --from /tmp/cca.json                                          # record the CCA reference's metrics
    python -m benchmarks.flickr_docs                                  # rewrite the generated blocks

Both writers refuse a NAME that ``results/flickr8k/`` already holds (a committed run's evidence) unless
given ``--replace``.

Each cited run keeps its ``config.json``, ``train_log.csv`` and ``metrics.json`` (val) under
``results/flickr8k/<run>/`` (small text files; no weights, no images) plus ``run.json``: which CPU
(model, flags, threads, load), the command and a note. The blocks ``<!-- generated:f8k-… -->`` in
docs/RESULTS.md and README.md are written from those files only; ``tests/test_docs_figures.py``
fails when a committed page differs from what this writes.
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "results" / "flickr8k"
DOCS = ("README.md", "docs/RESULTS.md")
KS = (1, 5, 10)
RUN_FILES = ("config.json", "train_log.csv", "metrics.json")


def runs(with_metrics: bool = True) -> dict[str, dict]:
    """Every recorded run: name -> {"metrics", "run", "config" (or None), "log" (rows or [])}.
    ``with_metrics=False`` also lists screening runs (stopped early: a log, no metrics.json)."""
    out = {}
    for d in sorted(p for p in RESULTS.iterdir()
                    if p.is_dir() and ((p / "metrics.json").exists() or not with_metrics and (p / "train_log.csv").exists())):
        cfg = d / "config.json"
        log = d / "train_log.csv"
        out[d.name] = {
            "metrics": json.loads((d / "metrics.json").read_text(encoding="utf-8"))
            if (d / "metrics.json").exists() else None,
            "run": json.loads((d / "run.json").read_text(encoding="utf-8")) if (d / "run.json").exists() else {},
            "config": json.loads(cfg.read_text(encoding="utf-8")) if cfg.exists() else None,
            "log": list(csv.DictReader(log.open(encoding="utf-8"))) if log.exists() else [],
        }
    return out


def _rk(m: dict, d: str) -> str:
    return " / ".join(f"{m[d][f'R@{k}']:.1f}" for k in KS)


def _train_minutes(r: dict) -> str:
    """Wall time as run.json records it; "—" when it does not (a resumed run's train_log.csv
    restarts its clock at each resume, so its last row is not the run's time)."""
    if r["run"].get("seconds") is not None:
        return f"{r['run']['seconds'] / 60:.1f} min"
    return "—"


def _rate_range(r: dict) -> str:
    """The slowest and fastest epoch's training rate in the run's train_log.csv: the same machine kind
    trains at different speeds from session to session, so a whole-run time is read beside it."""
    rates = [float(row["samples_per_s"]) for row in r["log"] if row.get("samples_per_s")]
    return f"{min(rates):.0f}–{max(rates):.0f}" if rates else "—"


def _cpu(r: dict) -> str:
    mach = r["run"].get("machine") or {}
    if not mach:
        return "—"
    load = mach.get("loadavg") or [float("nan")]
    return f"{mach.get('kind', mach.get('cpu_model', '?'))}, {r['run'].get('threads', '?')} thread(s), load {load[0]:.2f}"


def runs_table() -> str:
    """One row a recorded run: val R@K both ways, rsum, time, CPU; the CCA reference among them."""
    rows = ["| run | what | val R@1 / 5 / 10 image→text | text→image | rsum | time | CPU | files |",
            "|---|---|---|---|---|---|---|---|"]
    for name, r in runs().items():
        m = r["metrics"]
        files = ", ".join(f for f in (*RUN_FILES, "run.json") if (RESULTS / name / f).exists())
        rows.append(f"| `{name}` | {r['run'].get('note', '')} | {_rk(m, 'i2t')} | {_rk(m, 't2i')} | "
                    f"{m['rsum']:.1f} | {_train_minutes(r)} | {_cpu(r)} | {files} |")
    return "\n".join(rows)


def curve(name: str) -> str:
    """The periodic validation rows of a run's train_log.csv."""
    log = [row for row in runs()[name]["log"] if row.get("val_rsum")]
    # no minutes column: the log's clock restarts when a run is resumed
    rows = ["| epoch | step | val R@1 / 5 / 10 image→text | text→image | rsum | samples/s that epoch |",
            "|---|---|---|---|---|---|"]
    for row in log:
        i2t = " / ".join(f"{float(row[f'val_i2t_R@{k}']):.1f}" for k in KS)
        t2i = " / ".join(f"{float(row[f'val_t2i_R@{k}']):.1f}" for k in KS)
        rows.append(f"| {row['epoch']} | {row['step']} | {i2t} | {t2i} | {float(row['val_rsum']):.1f} | "
                    f"{float(row['samples_per_s']):.0f} |")
    return "\n".join(rows)


def screens_table() -> str:
    """Ideas screened at equal epochs: each run's periodic validation (all of val, the trainer's own R@K)
    at every epoch where two or more runs have one, run beside run (a screen stopped early is left out of
    the later epochs), with the length of the schedule it trained (most ran the recipe's 20 epochs)."""
    notes = runs(with_metrics=False)
    runs_ = {n: {int(x["epoch"]): x for x in r["log"] if x.get("val_rsum")} for n, r in notes.items()}
    runs_ = {n: v for n, v in runs_.items() if v}
    epochs = sorted({e for v in runs_.values() for e in v})
    rows = ["| epoch | of | run | what | val R@1 / 5 / 10 image→text | text→image | rsum |",
            "|---|---|---|---|---|---|---|"]
    for epoch in epochs:
        have = [name for name, by_epoch in runs_.items() if epoch in by_epoch]
        if len(have) < 2:
            continue
        for name in have:
            row = runs_[name][epoch]
            i2t = " / ".join(f"{float(row[f'val_i2t_R@{k}']):.1f}" for k in KS)
            t2i = " / ".join(f"{float(row[f'val_t2i_R@{k}']):.1f}" for k in KS)
            cfg = notes[name]["config"] or {}
            rows.append(f"| {epoch} | {cfg.get('train', {}).get('epochs', '?')} | `{name}` | "
                        f"{notes[name]['run'].get('note', '')} | {i2t} | {t2i} | {float(row['val_rsum']):.1f} |")
    return "\n".join(rows)


def typed(name: str) -> str:
    """A run's typed-query figures (short phrases cut from held-out captions, MiniLM-judged relevance)."""
    from xmr_core.retrieval.typed_queries import typed_table

    m = runs()[name]["metrics"]
    if "typed_queries" not in m:
        return f"`{name}`: no typed-query figure in its metrics.json."
    return typed_table(m["typed_queries"])


def labels(name: str) -> str:
    """How the calibrated "related" threshold changes a run's labels (its calibration.json, written by
    ``python -m xmr_core.evaluation.calibration_report --run … --query …``)."""
    c = json.loads((RESULTS / name / "calibration.json").read_text(encoding="utf-8"))
    lab = c["labels"]
    t0, t1 = lab["i2t"]["default"]["threshold"], lab["i2t"]["calibrated"]["threshold"]
    rows = [f"| `{name}` | R@1 / 5 / 10 | sR@1 / 5 / 10 at {t0:g} | at {t1:g} (calibrated) | "
            f"non-GT top 5 called related at {t0:g} | at {t1:g} |", "|---|---|---|---|---|---|"]
    for d, label in (("i2t", "image → text"), ("t2i", "text → image")):
        x = lab[d]
        rk = " / ".join(f"{x['R@K'][f'R@{k}']:.1f}" for k in KS)
        sr = [" / ".join(f"{x[w][f'sR@{k}']:.1f}" for k in KS) for w in ("default", "calibrated")]
        rows.append(f"| {label} | {rk} | {sr[0]} | {sr[1]} | {100 * x['default']['related_share_top5']:.1f} % | "
                    f"{100 * x['calibrated']['related_share_top5']:.1f} % |")
    for q, hits in c.get("queries", {}).items():
        rows += ["", f"\"{q}\", its top 5 (relevance to each image's captions; label at {t0:g} → at {t1:g}):", ""]
        rows += [f"{h['rank']}. {h['first_caption']} ({h['relevance']:.2f}: {h['default']} → {h['calibrated']})"
                 for h in hits]
    return "\n".join(rows)


def _default_run() -> str:
    """The run the README cites for the default recipe: the one whose run.json says so."""
    named = [n for n, r in runs().items() if r["run"].get("cited_as") == "default"]
    if len(named) != 1:
        raise KeyError(f"exactly one results/flickr8k/*/run.json must say cited_as 'default', found {named}")
    return named[0]


def _recipe_run(recipe_name: str) -> str:
    """The run a recipe's recorded time names (its first Timing's ``results/flickr8k/<run>/run.json``)."""
    from xmr_core.recipes import recipe

    src = Path(recipe(recipe_name).timings[0].source)
    if src.name != "run.json" or src.parent.parent.as_posix() != RESULTS.relative_to(ROOT).as_posix():
        raise KeyError(f"recipe {recipe_name!r}'s record does not name a results/flickr8k run: {src}")
    return src.parent.name


def readme_table() -> str:
    """README's answer: the default recipe (one core) and the two-cores recipe beside the CCA reference,
    from their files."""
    rs = runs()
    rows = ["| | what | val R@1 / 5 / 10 image→text | text→image | rsum | time |", "|---|---|---|---|---|---|"]
    for label, name in (("ours, one core", _default_run()), ("ours, two cores", _recipe_run("two-cores")),
                        ("reference", "cca-reference")):
        r = rs[name]
        rows.append(f"| {label} | `{name}`: {r['run'].get('note', '')} | {_rk(r['metrics'], 'i2t')} | "
                    f"{_rk(r['metrics'], 't2i')} | {r['metrics']['rsum']:.1f} | {_train_minutes(r)} |")
    return "\n".join(rows)


def budget_table(beside: tuple[str, ...] = ()) -> str:
    """Runs trained under a wall-time budget (``--budget-min``, xmr_core/train/budget.py): what each measured
    when it planned, the epochs it kept, its projected and its actual whole-run time, its val R@K; then the
    runs ``beside`` (asked for their epochs, no budget) and the CCA reference, to read them against."""
    rows = ["| run | budget | measured: a step / a validation | epochs asked → kept | projected | whole run | "
            "val R@1 / 5 / 10 image→text | text→image | rsum |", "|---|---|---|---|---|---|---|---|---|"]
    rs = runs()
    for name, r in rs.items():
        b = (r["config"] or {}).get("budget")
        if not b:
            continue
        m = r["metrics"]
        rows.append(f"| `{name}` | {b['budget_min']:g} min | {b['step_s']:.2f} s / {b['val_s']:.0f} s | "
                    f"{b['epochs_asked']} → {b['epochs']} | {b['projected_min']:.1f} min (all {b['epochs_asked']}: "
                    f"{b['projected_asked_min']:.1f}) | {_train_minutes(r)} | {_rk(m, 'i2t')} | {_rk(m, 't2i')} | "
                    f"{m['rsum']:.1f} |")
    for name in (*beside, "cca-reference"):
        r, m = rs[name], rs[name]["metrics"]
        epochs = (r["config"] or {}).get("train", {}).get("epochs", "")
        rows.append(f"| `{name}` | | | {epochs} | | {_train_minutes(r)} | {_rk(m, 'i2t')} | {_rk(m, 't2i')} | "
                    f"{m['rsum']:.1f} |")
    return "\n".join(rows)


def text_side_table(names: tuple[str, ...]) -> str:
    """Runs that differ in the captions' side (``ModelConfig.text_input_size``, docs/METHOD.md §2d), screens stopped
    early among them: the side its config records, its schedule, its logged training rate, its val rsum at epoch 4
    (every run validated there) and its last validation (R@K, rsum), its whole-run time when it finished."""
    rows = ["| run | photos / captions px | epochs (schedule) | samples/s (slowest–fastest epoch) | val rsum, epoch 4 | "
            "last validation: epoch, val R@1 / 5 / 10 image→text, text→image, rsum | whole run |",
            "|---|---|---|---|---|---|---|"]
    rs = runs(with_metrics=False)
    for name in names:
        r = rs[name]
        model, train = r["config"]["model"], r["config"]["train"]
        px = f"{model['input_size']} / {model.get('text_input_size') or model['input_size']}"
        vals = [row for row in r["log"] if row.get("val_rsum")]
        at4 = next(float(row["val_rsum"]) for row in vals if row["epoch"] == "4")
        last = vals[-1]
        i2t = " / ".join(f"{float(last[f'val_i2t_R@{k}']):.1f}" for k in KS)
        t2i = " / ".join(f"{float(last[f'val_t2i_R@{k}']):.1f}" for k in KS)
        rows.append(f"| `{name}` | {px} | {train['epochs']} | {_rate_range(r)} | {at4:.1f} | {last['epoch']}: {i2t}, "
                    f"{t2i}, {float(last['val_rsum']):.1f} | {_train_minutes(r) if r['metrics'] else 'stopped'} |")
    return "\n".join(rows)


ALLOCATOR_FILE = ROOT / "benchmarks" / "results-issue20-allocator.json"


def _pretrained_runs() -> dict[str, dict]:
    """The recorded whole runs of the `pretrained` recipe as it stands (the default before the teacher):
    20 epochs at 112 px, no VSE++ hinge, no teacher."""
    out = {}
    for name, r in runs().items():
        cfg = r["config"]
        if not cfg or cfg.get("recipe") not in ("default", "pretrained") or cfg["train"].get("epochs") != 20:
            continue
        if cfg["model"].get("input_size") != 112 or cfg["train"].get("hard_negative_weight") \
                or cfg["train"].get("teacher_weight"):
            continue
        out[name] = r
    return out


def cores_table() -> str:
    """The `pretrained` recipe's training step (the teacher recipe's too: the teacher adds no work a step) on
    one and two threads, with glibc's defaults and with the setting ``train`` makes
    (benchmarks/bench_allocator.py's file), and what a 20-epoch run's steps take at each rate; then the
    recorded 20-epoch runs of that recipe with their thread count."""
    res = json.loads(ALLOCATOR_FILE.read_text(encoding="utf-8"))
    mach = res["machine"]
    t = next(iter(_pretrained_runs().values()))["config"]  # the recipe's schedule, as its runs trained it
    per_class = t["train"]["images_per_class"] + t["train"]["captions_per_class"]
    steps = t["dataset"]["n_classes"] // (t["train"]["batch_size"] // per_class) * t["train"]["epochs"]  # as train/loop.py
    rows = [f"Step rates, `{ALLOCATOR_FILE.relative_to(ROOT).as_posix()}` ({mach['kind']}, "
            f"load {mach['loadavg_at_start'][0]:.2f} at the start; batch 128 = 32 photos + 96 captions):", "",
            "| threads | glibc defaults | freed memory kept (`train`'s setting) | gain | system time a step | "
            f"{t['train']['epochs']} epochs' {steps:,} steps at the kept rate |", "|---|---|---|---|---|---|"]
    for r in res["rows"]:
        if r["reference"] or not r["case"].startswith("default recipe"):
            continue
        ref = next(x for x in res["rows"] if x["reference"] and x["case"] == r["case"])
        minutes = steps * t["train"]["batch_size"] / r["samples_per_s_median"] / 60
        rows.append(f"| {r['threads']} | {ref['samples_per_s_median']:.1f} samples/s | {r['samples_per_s_median']:.1f} "
                    f"samples/s | x{r['samples_per_s_median'] / ref['samples_per_s_median']:.2f} | "
                    f"{ref['sys_s_per_step']:.3f} s → {r['sys_s_per_step']:.3f} s | {minutes:.0f} min |")
    rows += ["", "Whole runs of the `pretrained` recipe (20 epochs), `results/flickr8k/`:", "",
             "| run | threads | whole run (Word2Vec, cache, training, validations) | val rsum | CPU |", "|---|---|---|---|---|"]
    for name, r in _pretrained_runs().items():
        rows.append(f"| `{name}` | {r['run'].get('threads', '?')} | {_train_minutes(r)} | {r['metrics']['rsum']:.1f} | "
                    f"{_cpu(r)} |")
    from xmr_core.recipes import recipe

    tr, two = recipe("teacher").train, recipe("two-cores").train  # the recipes as they stand, not a copy of them here
    rows += ["", f"Whole runs of the `default` (`teacher`) recipe, on one core or two, on its own {tr.epochs} epochs or "
             f"others, at its learning rate ({tr.lr:g}) or others (`--threads`, `--epochs`, `--lr`; nothing else "
             f"changed; `two-cores` is `--threads {two.threads}`, {two.epochs} epochs at {two.lr:g}), "
             "`results/flickr8k/`:", "",
             "| run | threads | epochs | learning rate | whole run (the reference's fit, cache, training, validations) | "
             "samples/s, slowest–fastest epoch | val R@1 / 5 / 10 image→text | text→image | rsum | CPU |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in recipe_runs("teacher", free=("epochs", "threads", "lr")).items():
        rows.append(f"| `{name}` | {r['config']['train']['threads']} | {r['config']['train']['epochs']} | "
                    f"{r['config']['train']['lr']:g} | "
                    f"{_train_minutes(r)} | {_rate_range(r)} | {_rk(r['metrics'], 'i2t')} | "
                    f"{_rk(r['metrics'], 't2i')} | {r['metrics']['rsum']:.1f} | {_cpu(r)} |")
    return "\n".join(rows)


def recipe_runs(recipe_name: str, free: tuple[str, ...] = ()) -> dict[str, dict]:
    """The recorded runs (with metrics) that trained the named recipe as it stands now: the same encoding,
    model and training configs, apart from the training fields named in ``free`` (a field a run's
    config.json predates counts as its default)."""
    from xmr_core.config import EncodingConfig, ModelConfig, TrainConfig, from_dict, to_dict
    from xmr_core.recipes import recipe

    want = recipe(recipe_name)
    out = {}
    for name, r in runs().items():
        cfg = r["config"]
        if not cfg or not {"encoding", "model", "train"} <= set(cfg):
            continue
        tr = to_dict(from_dict(TrainConfig, cfg["train"]))
        if (to_dict(from_dict(EncodingConfig, cfg["encoding"])) == to_dict(want.encoding)
                and to_dict(from_dict(ModelConfig, cfg["model"])) == to_dict(want.model)
                and {k: v for k, v in tr.items() if k not in free}
                == {k: v for k, v in to_dict(want.train).items() if k not in free}):
            out[name] = r
    return out


CCA_INPUTS_FILE = RESULTS / "cca-inputs.json"


def cca_inputs_table() -> str:
    """The CCA reference fitted on each kind of word vectors (``benchmarks/cca_inputs.py``'s file)."""
    res = json.loads(CCA_INPUTS_FILE.read_text(encoding="utf-8"))
    rows = [f"`{CCA_INPUTS_FILE.relative_to(ROOT).as_posix()}` ({res['machine']['kind']}; photos at "
            f"{res['photos_px']} px, the mean of a caption's word vectors, CCA fitted on train, val):", "",
            "| the caption side | numbers a word | val R@1 / 5 / 10 image→text | text→image | rsum |", "|---|---|---|---|---|"]
    for r in res["rows"]:
        rows.append(f"| {r['text']} | {r['numbers_a_word']} | {_rk(r, 'i2t')} | {_rk(r, 't2i')} | {r['rsum']:.1f} |")
    return "\n".join(rows)


WHICH_SIDE_FILE = RESULTS / "which-side.json"


def which_side_table() -> str:
    """Each run's val photos and captions paired with the CCA reference's (``benchmarks/which_side.py``'s file)."""
    res = json.loads(WHICH_SIDE_FILE.read_text(encoding="utf-8"))
    keys = list(res["rows"][0]["rsum"])
    rows = [f"`{WHICH_SIDE_FILE.relative_to(ROOT).as_posix()}` ({res['machine']['kind']}; val rsum of each pairing, "
            "photos / captions; the mean cosine of each side to the reference's vector of the same item):", "",
            "| run | " + " | ".join(keys) + " | cos photos | cos captions |", "|---|" + "---|" * (len(keys) + 2)]
    for r in res["rows"]:
        rows.append(f"| `{r['run']}` | " + " | ".join(f"{r['rsum'][k]:.1f}" for k in keys)
                    + f" | {r['cos_to_reference']['photos']:.2f} | {r['cos_to_reference']['captions']:.2f} |")
    return "\n".join(rows)


BLOCKS = {"f8k-runs": runs_table, "f8k-cca-inputs": cca_inputs_table, "f8k-which-side": which_side_table, "f8k-cores": cores_table, "f8k-readme": readme_table, "f8k-screens": screens_table,
          "f8k-budget": lambda: budget_table(("f8k-lr3e3-e9", _default_run())),
          "f8k-text-side": lambda: text_side_table(
              ("f8k-lr3e3-e14", "f8k-t112", "f8k-budget35", "f8k-t112-b35", "f8k-lr3e3-e10", "f8k-t192-e10", "f8k-t192-b35")),
          "f8k-curve": lambda: curve(_default_run()),
          "f8k-curve-two-cores": lambda: curve(_recipe_run("two-cores")),
          "f8k-curve-2t-e32": lambda: curve("f8k-wcca36-tm3-2t-e32"),  # the two-core recipe before the rate was raised
          # the calibration section's prose reads the labels of the `pretrained` recipe's run it was written on
          "f8k-labels": lambda: labels("f8k-default"), "f8k-typed": lambda: typed(_default_run())}


def _machine() -> dict:
    """The CPU (model, flags, load) when the files are collected, right after the run ends."""
    from xmr_core.hardware import cpu_description

    return cpu_description()


def _results_folder(name: str, replace: bool) -> Path:
    """results/flickr8k/NAME, created; an existing one (a committed run's evidence) only with ``replace``."""
    out = RESULTS / name
    if out.exists() and not replace:
        raise SystemExit(f"error: {out} already holds a collected run; choose another --as name, or pass "
                         "--replace to overwrite its files")
    out.mkdir(parents=True, exist_ok=True)
    return out


def collect(run_dir: Path, name: str, note: str, threads: int, cited_as: str | None, command: str,
            seconds: float | None = None, screen: bool = False, replace: bool = False) -> Path:
    """Copy a run bundle's small files into results/flickr8k/NAME/ with a run.json beside them
    (refused when NAME exists, unless ``replace``)."""
    from xmr_core.files import write_text_atomic

    need = RUN_FILES if not screen else ("config.json", "train_log.csv")
    missing = [f for f in need if not (run_dir / f).exists()]
    if missing:
        raise SystemExit(f"error: {run_dir} lacks {missing} (evaluate it first: python -m xmr_core evaluate ...)")
    out = _results_folder(name, replace)
    for f in need:
        shutil.copyfile(run_dir / f, out / f)
    info = {"note": note, "threads": threads, "command": command, "source": str(run_dir),
            "seconds": seconds, "machine": _machine()}
    if cited_as:
        info["cited_as"] = cited_as
    write_text_atomic(out / "run.json", json.dumps(info, indent=1) + "\n")
    return out


def record_reference(metrics_json: Path, name: str, note: str, threads: int, command: str,
                     replace: bool = False) -> Path:
    """Store the CCA reference's ``--json`` output as results/flickr8k/NAME/metrics.json + run.json
    (refused when NAME exists, unless ``replace``)."""
    from xmr_core.files import write_text_atomic

    m = json.loads(metrics_json.read_text(encoding="utf-8"))
    out = _results_folder(name, replace)
    write_text_atomic(out / "metrics.json", json.dumps(m, indent=1) + "\n")
    info = {"note": note, "threads": threads, "command": command, "seconds": m.get("seconds"),
            "machine": _machine()}
    write_text_atomic(out / "run.json", json.dumps(info, indent=1) + "\n")
    return out


def render(doc: str) -> str:
    """``doc`` with its f8k-… blocks rewritten (other generated blocks are left as they are)."""
    from benchmarks.demo_docs import render_blocks

    return render_blocks(doc, BLOCKS, lambda name: name.startswith("f8k-"))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd")
    c = sub.add_parser("collect", help="copy a run's config.json, train_log.csv, metrics.json")
    c.add_argument("run_dir", type=Path)
    c.add_argument("--as", dest="name", required=True)
    c.add_argument("--note", required=True)
    c.add_argument("--threads", type=int, default=1)
    c.add_argument("--cited-as", default=None, help="'default': the run README cites for the default recipe")
    c.add_argument("--command", default="", help="the command that trained it")
    c.add_argument("--seconds", type=float, default=None, help="wall time of the whole run, when measured")
    c.add_argument("--screen", action="store_true", help="a screening run stopped early: no metrics.json")
    c.add_argument("--replace", action="store_true", help="overwrite results/flickr8k/NAME if it exists")
    r = sub.add_parser("reference", help="record the CCA reference's --json metrics")
    r.add_argument("--from", dest="src", type=Path, required=True)
    r.add_argument("--as", dest="name", default="cca-reference")
    r.add_argument("--note", default="CCA of frozen Lite0 photo features x mean 300-d Word2Vec")
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--command", default="python -m xmr_core reference --split val --json")
    r.add_argument("--replace", action="store_true", help="overwrite results/flickr8k/NAME if it exists")
    a = p.parse_args(argv)
    if a.cmd == "collect":
        print(collect(a.run_dir, a.name, a.note, a.threads, a.cited_as, a.command, a.seconds, a.screen, a.replace))
        return
    if a.cmd == "reference":
        print(record_reference(a.src, a.name, a.note, a.threads, a.command, a.replace))
        return
    from benchmarks.demo_docs import rewrite

    rewrite(DOCS, render)


if __name__ == "__main__":
    main()
