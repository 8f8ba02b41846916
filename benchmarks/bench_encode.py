"""Caption -> encoded-text image at 256 px (EncodingConfig() defaults, 36-d word vectors).

Variants, on the same demo captions (Word2Vec trained on them with ``w2v_epochs=2``):
  xmr encode_batch     ``TextEncoder.encode_batch`` on batches of 256 captions (vectorised)
  xmr encode           ``TextEncoder.encode`` one caption at a time (with its layout record)
  numpy block fill     the reference: what a user would write with numpy, one caption a call:
                       the caption's word vectors -> their superpixel colours in one array
                       operation (per-dimension min-max over the vocabulary), ``np.repeat``
                       to pixel size, one slice assignment per word block
  Pillow rectangles    the same with ``ImageDraw.rectangle``, one filled rectangle per superpixel
Both references are written here from docs/METHOD.md §1, not from our encoder; before timing,
their output is compared with ours pixel for pixel on a few captions (including an
out-of-vocabulary word, an empty caption and one too long for the canvas). The like-for-like row
is ``xmr encode`` (one caption a call, as the references); ``encode_batch`` adds batching.

Runs alternate (one pass of each variant per repeat). Metric: captions/s of wall-clock time
(higher is better); rows also hold captions per second of process CPU time, a guide to an
unshared core on a loaded machine. Target: encode_batch >= 5,000 captions/s.

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
REF_NAME = "numpy block fill, one caption a call (reference)"


def demo_captions(n_images: int = 1200, seed: int = 0) -> list[str]:
    """Five demo captions per synthetic scene (the demo generator's own caption writer)."""
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(n_images):
        srng = random.Random(rng.getrandbits(64))
        background, things = demo._scene(srng)
        out.extend(demo.make_captions(background, things, srng))
    return out


class _Layout:
    """What both references share from docs/METHOD.md §1: colour scaling and word slots."""

    def __init__(self, kv, cfg: EncodingConfig):
        self.kv, self.cfg = kv, cfg
        self.vecs = np.asarray(kv.vectors, dtype=np.float32)
        self.lo, self.hi = self.vecs.min(0), self.vecs.max(0)  # per-dimension min-max over the vocabulary
        self.index = {w: i for i, w in enumerate(kv.index_to_key)}
        c = cfg
        self.bw, self.bh = c.block_w * c.superpixel, c.block_h * c.superpixel
        self.per_row = (c.canvas - 2 * c.margin + c.gap) // (self.bw + c.gap)
        self.slots = self.per_row * ((c.canvas - 2 * c.margin + c.gap) // (self.bh + c.gap))

    def words(self, sentence: str) -> list[int]:
        """Vocabulary ids of the words that get a slot (out-of-vocabulary skipped, overflow dropped)."""
        ids = [self.index[w] for w in tokenize(sentence) if w in self.index]
        return ids[:self.slots]

    def origin(self, slot: int) -> tuple[int, int]:
        c = self.cfg
        return c.margin + (slot % self.per_row) * (self.bw + c.gap), c.margin + (slot // self.per_row) * (self.bh + c.gap)

    def colours(self, ids: list[int]) -> np.ndarray:
        """(n, block_h, block_w, 3) uint8 superpixel colours; channels past the vector white."""
        span = np.where(self.hi > self.lo, self.hi - self.lo, np.float32(1.0))
        v = (np.clip((self.vecs[ids] - self.lo) / span, 0.0, 1.0) * np.float32(255.0)).round()
        n_sp = self.cfg.block_w * self.cfg.block_h
        v = np.concatenate([v, np.full((len(ids), 3 * n_sp - v.shape[1]), 255.0, np.float32)], axis=1)
        return v.astype(np.uint8).reshape(len(ids), self.cfg.block_h, self.cfg.block_w, 3)


class NumpyReference(_Layout):
    """numpy block fill, one caption a call: the vectorised painter a user would write."""

    def encode(self, sentence: str) -> np.ndarray:
        c = self.cfg
        img = np.full((c.canvas, c.canvas, 3), 255, dtype=np.uint8)
        ids = self.words(sentence)
        if ids:
            blocks = np.repeat(np.repeat(self.colours(ids), c.superpixel, axis=1), c.superpixel, axis=2)
            for slot, block in enumerate(blocks):
                x0, y0 = self.origin(slot)
                img[y0:y0 + self.bh, x0:x0 + self.bw] = block
        return img


class PillowReference(_Layout):
    """Pillow, one ``ImageDraw.rectangle`` per superpixel, one caption a call."""

    def encode(self, sentence: str) -> np.ndarray:
        from PIL import ImageDraw

        c, s = self.cfg, self.cfg.superpixel
        img = Image.new("RGB", (c.canvas, c.canvas), (255, 255, 255))
        draw = ImageDraw.Draw(img)
        ids = self.words(sentence)
        cols = self.colours(ids).tolist() if ids else []
        for slot, block in enumerate(cols):
            x0, y0 = self.origin(slot)
            for r, row in enumerate(block):
                for k, rgb in enumerate(row):
                    x, y = x0 + k * s, y0 + r * s
                    draw.rectangle((x, y, x + s - 1, y + s - 1), fill=tuple(rgb))
        return np.asarray(img)


def _check_equal(enc: TextEncoder, refs: list[_Layout], captions: list[str]) -> tuple[int, int]:
    """(captions compared, captions whose images differ anywhere) - batch, single and every reference."""
    words = enc.kv.index_to_key
    probe = captions[:6] + [
        "",
        "a zzqxv unknownword " + captions[0],
        " ".join(words[i % len(words)] for i in range(enc.cfg.capacity + 20)),  # overflows the canvas
    ]
    batch = enc.encode_batch(probe)
    bad = 0
    for i, s in enumerate(probe):
        mine = enc.encode(s)[0]
        if not (np.array_equal(mine, batch[i]) and all(np.array_equal(mine, r.encode(s)) for r in refs)):
            bad += 1
    return len(probe), bad


def cases(quick: bool = False) -> list[dict[str, Any]]:
    """captions/s of each variant; see the module docstring."""
    repeats = 3 if quick else 7
    n_single = 256 if quick else 1024   # captions per timed pass of `encode`
    n_ref = 256 if quick else 1024      # captions per timed pass of each reference
    captions = demo_captions(1200)
    cfg = EncodingConfig(w2v_epochs=2)
    enc = TextEncoder.fit(captions, cfg)
    ref, pil = NumpyReference(enc.kv, enc.cfg), PillowReference(enc.kv, enc.cfg)
    n_checked, n_bad = _check_equal(enc, [ref, pil], captions)

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

    def run_pil() -> int:
        for s in ref_caps:
            pil.encode(s)
        return len(ref_caps)

    variants: dict[str, tuple[Callable[[], int], bool]] = {
        f"xmr encode_batch (batch {BATCH})": (run_batch, False),
        "xmr encode (one caption a call)": (run_single, False),
        REF_NAME: (run_ref, True),
        "Pillow ImageDraw.rectangle per superpixel": (run_pil, False),
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
    ref_med = statistics.median(rates[REF_NAME])
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
