"""Caption -> encoded-text image at 256 px (EncodingConfig() defaults, 36-d word vectors).

Variants, on the same demo captions (Word2Vec trained on them with ``w2v_epochs=2``):
  xmr encode_batch     ``TextEncoder.encode_batch`` on batches of 256 captions (vectorised)
  xmr encode           ``TextEncoder.encode`` one caption at a time (with its layout record)
  Pillow per-pixel     the reference: a straightforward loop written here that colours each
                       pixel of each superpixel of each word with ``Image.putpixel``, using
                       the same layout and the same per-dimension min-max colour scaling

Runs alternate (one pass of each variant per repeat). Before timing, the reference's
output is compared with ours pixel for pixel on a few captions (including an
out-of-vocabulary word, an empty caption and one too long for the canvas).
Metric: captions/s of wall-clock time (higher is better); rows also hold captions per
second of process CPU time, a guide to an unshared core on a loaded machine. Target: encode_batch >= 5,000 captions/s.

Run: ``python benchmarks/bench_encode.py [--quick]``.
"""
from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._script import script_rows  # noqa: E402
from xmr_core.config import EncodingConfig  # noqa: E402
from xmr_core.data import demo  # noqa: E402
from xmr_core.text.encoder import TextEncoder  # noqa: E402
from xmr_core.text.tokenize import tokenize  # noqa: E402

BATCH = 256
TARGET_BATCH = 5000.0  # captions/s, one process


def demo_captions(n_images: int = 1200, seed: int = 0) -> list[str]:
    """Five demo captions per synthetic scene (the demo generator's own caption writer)."""
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(n_images):
        srng = random.Random(rng.getrandbits(64))
        background, things = demo._scene(srng)
        out.extend(demo.make_captions(background, things, srng))
    return out


class PillowReference:
    """Per-pixel Pillow painter: the naive implementation of docs/METHOD.md §1, for speed and equality."""

    def __init__(self, kv, cfg: EncodingConfig):
        self.kv, self.cfg = kv, cfg
        vecs = np.asarray(kv.vectors, dtype=np.float32)
        self.lo, self.hi = vecs.min(0), vecs.max(0)  # per-dimension min-max over the vocabulary
        self.index = {w: i for i, w in enumerate(kv.index_to_key)}

    def _colours(self, vec: np.ndarray) -> list[tuple[int, int, int]]:
        span = np.where(self.hi > self.lo, self.hi - self.lo, np.float32(1.0))
        v = [int(c) for c in (np.clip((vec - self.lo) / span, 0.0, 1.0) * np.float32(255.0)).round()]
        n_sp = self.cfg.block_w * self.cfg.block_h
        v += [255] * (3 * n_sp - len(v))  # channels past the vector: white
        return [(v[3 * p], v[3 * p + 1], v[3 * p + 2]) for p in range(n_sp)]

    def encode(self, sentence: str) -> np.ndarray:
        c = self.cfg
        s = c.superpixel
        bw_px, bh_px = c.block_w * s, c.block_h * s
        per_row = (c.canvas - 2 * c.margin + c.gap) // (bw_px + c.gap)
        n_rows = (c.canvas - 2 * c.margin + c.gap) // (bh_px + c.gap)
        img = Image.new("RGB", (c.canvas, c.canvas), (255, 255, 255))
        slot = 0
        for word in tokenize(sentence):
            j = self.index.get(word)
            if j is None:
                continue  # out of vocabulary: skipped
            if slot >= per_row * n_rows:
                break  # no room left on the canvas
            x0 = c.margin + (slot % per_row) * (bw_px + c.gap)
            y0 = c.margin + (slot // per_row) * (bh_px + c.gap)
            for p, rgb in enumerate(self._colours(np.asarray(self.kv.vectors[j], dtype=np.float32))):
                sx, sy = x0 + (p % c.block_w) * s, y0 + (p // c.block_w) * s
                for dy in range(s):
                    for dx in range(s):
                        img.putpixel((sx + dx, sy + dy), rgb)
            slot += 1
        return np.asarray(img)


def _check_equal(enc: TextEncoder, ref: PillowReference, captions: list[str]) -> tuple[int, int]:
    """(captions compared, captions whose images differ anywhere) - batch, single and reference."""
    words = enc.kv.index_to_key
    probe = captions[:6] + [
        "",
        "a zzqxv unknownword " + captions[0],
        " ".join(words[i % len(words)] for i in range(enc.cfg.capacity + 20)),  # overflows the canvas
    ]
    batch = enc.encode_batch(probe)
    bad = 0
    for i, s in enumerate(probe):
        r = ref.encode(s)
        if not (np.array_equal(r, batch[i]) and np.array_equal(r, enc.encode(s)[0])):
            bad += 1
    return len(probe), bad


def cases(quick: bool = False) -> list[dict[str, Any]]:
    """captions/s of each variant; see the module docstring."""
    repeats = 3 if quick else 7
    n_single = 256 if quick else 1024   # captions per timed pass of `encode`
    n_ref = 16 if quick else 64         # captions per timed pass of the Pillow reference
    captions = demo_captions(1200)
    cfg = EncodingConfig(w2v_epochs=2)
    enc = TextEncoder.fit(captions, cfg)
    ref = PillowReference(enc.kv, enc.cfg)
    n_checked, n_bad = _check_equal(enc, ref, captions)

    rng = random.Random(1)
    batch_caps = [rng.sample(captions, BATCH) for _ in range(4)]  # 4 batches a pass
    single_caps = rng.sample(captions, n_single)
    ref_caps = rng.sample(captions, n_ref)

    def run_batch() -> int:
        for b in batch_caps:
            enc.encode_batch(b)
        return BATCH * len(batch_caps)

    def run_single() -> int:
        for s in single_caps:
            enc.encode(s)
        return len(single_caps)

    def run_ref() -> int:
        for s in ref_caps:
            ref.encode(s)
        return len(ref_caps)

    variants: dict[str, tuple[Callable[[], int], bool]] = {
        f"xmr encode_batch (batch {BATCH})": (run_batch, False),
        "xmr encode (one caption a call)": (run_single, False),
        "Pillow putpixel per pixel (reference)": (run_ref, True),
    }
    for fn, _ in variants.values():  # warm-up
        fn()
    rates: dict[str, list[float]] = {n: [] for n in variants}
    cpu_rates: dict[str, list[float]] = {n: [] for n in variants}
    for _ in range(repeats):
        for name, (fn, _) in variants.items():  # alternate within each repeat
            t, c = time.perf_counter(), time.process_time()
            n = fn()
            rates[name].append(n / (time.perf_counter() - t))
            cpu_rates[name].append(n / max(time.process_time() - c, 1e-9))

    mean_words = statistics.mean(len(tokenize(s)) for s in captions)
    case = f"encode caption -> {cfg.canvas}px image ({cfg.vector_size}-d)"
    ref_med = statistics.median(rates["Pillow putpixel per pixel (reference)"])
    out = []
    for name, (_, is_ref) in variants.items():
        med = statistics.median(rates[name])
        row: dict[str, Any] = {
            "case": case, "variant": name,
            "captions_per_s_median": med, "min": min(rates[name]), "max": max(rates[name]),
            "unit": "captions/s", "higher_is_better": True,
            # captions per second of this process's CPU time: what an unshared core would give
            "captions_per_cpu_s": statistics.median(cpu_rates[name]),
            "reference": is_ref, "repeats": repeats,
            "ratio_vs_reference": med / ref_med,
            "pixel_equal_to_reference": f"{n_checked - n_bad}/{n_checked}",
            "mean_words_per_caption": round(mean_words, 1),
        }
        if name.startswith("xmr encode_batch"):
            row["target"] = f">= {TARGET_BATCH:,.0f} captions/s"
            row["met"] = bool(med >= TARGET_BATCH and n_bad == 0)
        out.append(row)
    return out


def main() -> None:
    rows = script_rows(__doc__, cases)
    if rows is None:
        return
    for r in rows:
        print(f"{r['variant']:40s} median {r['captions_per_s_median']:10.0f} captions/s "
              f"[{r['min']:.0f}, {r['max']:.0f}]  x{r['ratio_vs_reference']:.1f} vs ref  "
              f"pixel-equal {r['pixel_equal_to_reference']}  ({r['captions_per_cpu_s']:.0f}/CPU-s)"
              + (f"  target {r['target']}: {'met' if r['met'] else 'NOT met'}" if "target" in r else ""))


if __name__ == "__main__":
    main()
