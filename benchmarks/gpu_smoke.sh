#!/usr/bin/env bash
# ============================================================================================
#  gpu_smoke.sh: THIS NEEDS A CUDA GPU. Without one it says so and exits 3 (nothing is run).
# ============================================================================================
# One run that checks the whole GPU path in under 5 minutes (issue 21), from the repository root:
#
#     bash benchmarks/gpu_smoke.sh                  # on a CUDA machine (pip install -r requirements.txt)
#     bash benchmarks/gpu_smoke.sh --device cpu     # a dry run of the same steps at a tiny size, on a CPU
#                                                   # (what tests/test_gpu_paths.py runs, ~30 s)
#
#  1. generates the demo data (the project's own generator, into $SMOKE_WORK/data);
#  2. trains the `paper` recipe (InceptionResNet-V1, 256 px, softmax + center loss) on it, with the
#     machine's AMP (bf16, or fp16 + GradScaler) and channels_last; a SIGTERM at step $SMOKE_STOP
#     makes the trainer save last.pt and stop;
#  3. resumes it with `python -m xmr_core train --resume` (weights, optimiser state, centres, RNG
#     and loss scale from last.pt) to step $SMOKE_STEPS (100);
#  4. the same interrupt + resume once more with fp16 forced (as on a GPU without native bf16),
#     so the GradScaler's save / restore runs on the GPU too;
#  5. evaluates the run on the GPU (R@K both ways on the demo's test split);
#  6. prints samples/s (steady state, after warm-up) and R@1/5/10, and "gpu_smoke: OK".
#
# Any failure stops it with a non-zero status (set -euo pipefail; the Python steps assert).
# Settings (environment): SMOKE_WORK (default benchmarks/_work/gpu_smoke, wiped first),
# SMOKE_STEPS (100), SMOKE_STOP (40), SMOKE_COMPILE=1 to add --compile 1 (torch.compile; adds
# its compile time, minutes). DDP with nccl needs 2 GPUs and is not run here:
#     torchrun --nproc_per_node=2 -m xmr_core train --recipe paper --dataset demo --max-steps 100 --name ddp
set -euo pipefail

DEVICE=cuda
while [[ $# -gt 0 ]]; do
  case "$1" in
    --device) DEVICE="$2"; shift 2 ;;
    *) echo "gpu_smoke.sh: unknown argument '$1' (only --device cuda|cpu)" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}

if [[ "$DEVICE" != "cpu" ]]; then
  if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_smoke.sh needs a CUDA GPU: torch.cuda.is_available() is False here, so nothing was run." >&2
    echo "  (a dry run of the same steps on a CPU: bash benchmarks/gpu_smoke.sh --device cpu)" >&2
    exit 3
  fi
  "$PY" -c 'import torch; print("GPU:", torch.cuda.get_device_name(0), "| torch", torch.__version__,
            "| native bf16:", torch.cuda.is_bf16_supported(including_emulation=False))'
  N_IMAGES=3000; STEPS=${SMOKE_STEPS:-100}; STOP=${SMOKE_STOP:-40}; FP16_STEPS=20
  OVERRIDES='{}'                       # the paper recipe as it is
else
  echo "gpu_smoke.sh: DRY RUN on the CPU (tiny network and data); the real check needs CUDA."
  N_IMAGES=60; STEPS=${SMOKE_STEPS:-6}; STOP=${SMOKE_STOP:-3}; FP16_STEPS=4
  export XMR_RELEVANCE=${XMR_RELEVANCE:-word-vectors}   # no MiniLM load: seconds that check nothing here
  OVERRIDES='{"model": {"input_size": 80, "width": 0.125}, "encoding": {"canvas": 80, "superpixel": 2,
              "gap": 2, "margin": 2, "w2v_epochs": 2}, "train": {"batch_size": 24, "threads": 1}}'
fi

WORK=${SMOKE_WORK:-benchmarks/_work/gpu_smoke}
rm -rf "$WORK"
mkdir -p "$WORK"
export SMOKE_DEVICE="$DEVICE" SMOKE_OVERRIDES="$OVERRIDES" SMOKE_COMPILE="${SMOKE_COMPILE:-0}"
export SMOKE_DATA="$WORK/data" PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
T0=$SECONDS

# ---- the Python steps (library calls; each asserts what it checks) ------------------------------
cat > "$WORK/smoke.py" <<'PYEOF'
import json, os, signal, sys, time
from dataclasses import replace

import torch

from xmr_core.recipes import recipe
from xmr_core.train import loop

DEVICE, DATA = os.environ["SMOKE_DEVICE"], os.environ["SMOKE_DATA"]


def configs(steps):
    enc, mod, tr = recipe("paper")
    over = json.loads(os.environ["SMOKE_OVERRIDES"])
    enc, mod = replace(enc, **over.get("encoding", {})), replace(mod, **over.get("model", {}))
    tr = replace(tr, **over.get("train", {}), device=DEVICE, max_steps=steps, val_every=0,
                 compile=os.environ["SMOKE_COMPILE"] == "1")
    return enc, mod, tr


class Meter:
    """The trainer's progress callback: step times (samples/s after warm-up); SIGTERM at step `stop`."""

    def __init__(self, stop=0):
        self.stop, self.times, self.samples = stop, [], []

    def __call__(self, step, total, info):
        if DEVICE != "cpu":
            torch.cuda.synchronize()
        self.times.append(time.perf_counter())
        self.samples.append(info["samples_per_s"])
        if step == self.stop:
            os.kill(os.getpid(), signal.SIGTERM)  # a real signal: the trainer saves last.pt and stops

    def rate(self, batch):
        skip = min(5, len(self.times) - 2)  # cuDNN autotuning / compilation in the first steps
        return batch * (len(self.times) - 1 - skip) / (self.times[-1] - self.times[skip])


def train_phase(run, steps, stop, resume):
    enc, mod, tr = configs(steps)
    m = Meter(stop)
    ds = f"{DATA}/dataset_demo.json"
    if resume:
        res = loop.train(run, ds, f"{DATA}/images", resume=True, resume_overrides={"max_steps": steps},
                         progress=m)
    else:
        res = loop.train(run, ds, f"{DATA}/images", enc, mod, tr, progress=m, recipe_name="paper")
    st = torch.load(f"{run}/last.pt", map_location="cpu", weights_only=True)
    want = stop if stop else steps
    assert res.steps == want == st["step"], (res.steps, want, st["step"])
    assert res.interrupted == bool(stop), res
    return m, st


def phase_train(run, steps, stop):
    m, st = train_phase(run, steps, stop, resume=False)
    tr = configs(steps)[2]
    batch = tr.batch_size // 6 * 6  # the paper's classes of 1 image + 5 captions
    print(f"interrupted at step {st['step']} by SIGTERM; last.pt saved | AMP {loop.amp_dtype(tr, torch.device(DEVICE))}"
          f" | samples/s {m.rate(batch):.1f} (batch {batch}, after the first steps' warm-up)", flush=True)


def phase_check(run, steps):
    st = torch.load(f"{run}/last.pt", map_location="cpu", weights_only=True)
    assert st["step"] == steps, st["step"]
    print(f"resumed to step {st['step']} (python -m xmr_core train --resume)", flush=True)


def phase_fp16(run, steps):
    """fp16 + GradScaler forced (as on a GPU without native bf16): the loss scale survives a resume."""
    loop.amp_dtype = lambda *a, **k: torch.float16 if DEVICE != "cpu" else None
    if DEVICE == "cpu":  # the CPU scaler stands in for CUDA's
        loop.make_scaler = lambda amp, device: torch.amp.GradScaler("cpu", init_scale=2.0 ** 8)
    _, st = train_phase(run, steps, steps // 2, resume=False)
    scale = st["scaler"].get("scale")
    assert scale, "no loss scale saved with fp16"
    _, st2 = train_phase(run, steps, 0, resume=True)
    print(f"fp16 + GradScaler: interrupted at step {st['step']} (scale {scale:g}), resumed to step "
          f"{st2['step']} (scale {st2['scaler']['scale']:g})", flush=True)


def phase_eval(run):
    from xmr_core.evaluation.evaluate import evaluate_run
    from xmr_core.bundle.run import load_run

    m = evaluate_run(load_run(run, device=DEVICE), images_dir=f"{DATA}/images")
    for d in ("i2t", "t2i"):
        assert all(0 <= m[d][k] <= 100 for k in ("R@1", "R@5", "R@10")), m[d]
    fmt = lambda d: " / ".join(f"{m[d][k]:.1f}" for k in ("R@1", "R@5", "R@10"))
    print(f"evaluated on {DEVICE}: {m['n_images']} images / {m['n_captions']} captions in "
          f"{m['timing_s']['total']:.1f} s | R@1/5/10 image->text {fmt('i2t')} | text->image {fmt('t2i')} "
          "(a few steps of the paper's recipe: far from trained; this checks the path, not the quality)",
          flush=True)


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "train":  # data, then training until the signal
        from xmr_core.data.demo import demo_splits, generate_demo

        n = int(sys.argv[5])
        generate_demo(DATA, n_images=n, seed=0, n_val=demo_splits(n)[0], n_test=demo_splits(n)[1])
        print(f"demo data: {n} images in {DATA}", flush=True)
        phase_train(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif what == "check+fp16":  # the resume's result, then fp16
        phase_check(sys.argv[2], int(sys.argv[3]))
        print("== 4. fp16 + GradScaler: interrupt and resume", flush=True)
        phase_fp16(sys.argv[4], int(sys.argv[5]))
    elif what == "eval":
        phase_eval(sys.argv[2])
PYEOF

echo "== 1-2. demo data ($N_IMAGES images), then the paper recipe on $DEVICE to step $STEPS; SIGTERM at step $STOP"
"$PY" "$WORK/smoke.py" train "$WORK/run" "$STEPS" "$STOP" "$N_IMAGES"
echo "== 3. resume it with the command line to step $STEPS"
"$PY" -m xmr_core train --out "$WORK/run" --resume --max-steps "$STEPS"
"$PY" "$WORK/smoke.py" check+fp16 "$WORK/run" "$STEPS" "$WORK/run-fp16" "$FP16_STEPS"
echo "== 5. evaluate on $DEVICE"
"$PY" "$WORK/smoke.py" eval "$WORK/run"
echo "gpu_smoke: OK ($DEVICE, $((SECONDS - T0)) s)"
