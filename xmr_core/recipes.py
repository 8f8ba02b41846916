"""Named training recipes: plain data, looked up by ``--recipe`` and by code, never built.

A recipe is the three configs of a run. ``paper`` / ``paper-config2`` are the paper's
(docs/METHOD.md §3-4); ``demo``, ``scratch``, ``pretrained``, ``teacher`` (alias ``default``) and
``two-cores`` (the default with two threads) and ``captions-192`` (the default with larger captions) are ours, each measured
(DEMO.md, docs/RESULTS.md).
Every option can still be overridden one by one on the command line. To add a recipe, add an entry to
``RECIPES``; an alias is just another key.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Iterator

from .config import EncodingConfig, ModelConfig, TrainConfig
from .errors import XmrError


@dataclass(frozen=True)
class Timing:
    """A recorded wall-clock time of a whole training run with a recipe, and the CPU it ran on."""

    seconds: float
    cpu: str             # the machine, as a reader would name it
    native_bf16: bool    # whether that CPU computes bf16 natively (hardware.cpu_has_native_bf16)
    data: str            # what it trained on
    source: str          # where the measurement is recorded


@dataclass(frozen=True)
class Recipe:
    """The (encoding, model, training) configs of a named recipe; unpacks as that triple.
    ``timings``: its recorded training times, one a CPU kind (``recorded_time`` picks one)."""

    encoding: EncodingConfig
    model: ModelConfig
    train: TrainConfig
    about: str = ""
    timings: tuple[Timing, ...] = ()

    def __iter__(self) -> Iterator:  # enc, mod, tr = recipe("demo")
        return iter((self.encoding, self.model, self.train))


# The demo's encoding: 96 px canvas, text at 4-px superpixels (24 words fit). `scratch` reuses it.
_DEMO_ENCODING = dict(canvas=96, superpixel=4, block_w=4, block_h=3, vector_size=36, gap=3, margin=3, w2v_epochs=30)

_PAPER = Recipe(
    EncodingConfig(), ModelConfig(input_size=256),
    TrainConfig(captions_per_class=5, images_per_class=1, center_loss_factor=0.01, amp="auto"),
    about="the paper's config-standard: one image + its 5 encoded captions a class")

RECIPES: dict[str, Recipe] = {
    # Ours, the best measured on Flickr8k from scratch within a 2-core CPU budget (docs/RESULTS.md, run G;
    # the `default` before the pretrained trunk):
    # a small, fast network (width 0.25, 80 px: ~400 samples/s on one core with bf16) trained for
    # 20 epochs beats a bigger one trained for fewer (60 epochs, run H, were no better: val R@K
    # plateaus after ~15); the caption-words head as a softmax over the class's words;
    # contrast-stretched word colours; no softmax over the 6,000 training images (it memorises
    # one image a class and slowed learning, run F vs G); center loss and in-batch InfoNCE kept.
    "scratch": Recipe(
        EncodingConfig(**_DEMO_ENCODING, colour_range=2.0),
        ModelConfig(input_size=80, width=0.25, standardize=True, dropout_keep=1.0),
        TrainConfig(epochs=20, batch_size=96, captions_per_class=3, images_per_class=1, lr=2e-3,
                    warmup_steps=100, lr_schedule="cosine", softmax_weight=0.0, center_loss_factor=0.01,
                    contrastive_weight=1.0, temperature=0.1, words_weight=1.0, words_loss="softmax",
                    val_images=1000),
        about="ours, the best measured from scratch on real data (docs/RESULTS.md)",
        timings=(Timing(26 * 60, "one core of a 2-core AMD EPYC with AVX512-BF16", True, "Flickr8k, 6,000 images",
                        "docs/RESULTS.md, run G"),)),
    # Ours: the one network on an ImageNet-pretrained EfficientNet-Lite0 trunk (docs/METHOD.md §2b,
    # docs/RESULTS.md runs P*): photos and painted captions through the same trunk and 128-d head;
    # the stem and first 6 blocks frozen and cached once (fp32 channels_last was the fastest CPU
    # mode, and the cache doubles the step rate); in-batch InfoNCE + center loss + the words head.
    "pretrained": Recipe(
        EncodingConfig(canvas=112, superpixel=4, block_w=4, block_h=3, vector_size=36, gap=3, margin=3,
                       w2v_epochs=30, colour_range=2.0),
        ModelConfig(backbone="efficientnet_lite0", pretrained=True, freeze_blocks=6, input_size=112,
                    dropout_keep=1.0),
        TrainConfig(epochs=20, batch_size=128, captions_per_class=3, images_per_class=1, lr=1e-3,
                    warmup_steps=100, lr_schedule="cosine", optimizer="adamw", weight_decay=1e-4,
                    trunk_lr_mult=1.0, cache_frozen=True, softmax_weight=0.0, center_loss_factor=0.01,
                    contrastive_weight=1.0, temperature=0.07, words_weight=1.0, words_loss="softmax",
                    val_every=4, val_images=1000),
        about="ours: an ImageNet-pretrained EfficientNet-Lite0 trunk, first 6 blocks frozen and cached",
        timings=(Timing(58 * 60, "one (shared) core of a 2-core AMD EPYC with AVX512-BF16", True,
                        "Flickr8k, 6,000 images", "docs/RESULTS.md, run P8"),
                 Timing(128 * 60, "one core of an Intel Xeon with AVX-512 and no native bf16", False,
                        "Flickr8k, 6,000 images", "issue 21, measured on that Xeon"),
                 # two cores: --threads 2, the same batches and steps (docs/RESULTS.md, "Time on one core and on two")
                 Timing(3467, "two idle cores (--threads 2) of a 2-core AMD EPYC with AVX512-BF16", True,
                        "Flickr8k, 6,000 images", "results/flickr8k/f8k-2threads/run.json"))),
    "paper": _PAPER,
    "paper-standard": _PAPER,
    "standard": _PAPER,
    # image + its flipped copy + 10 encoded texts (each caption at two random 227 px crops). Words
    # are laid out inside the top-left 227 px and text crops move by at most the margin, so no crop
    # ever cuts a word (docs/METHOD.md §1, §4).
    "paper-config2": Recipe(
        EncodingConfig(layout_size=227), ModelConfig(input_size=227),
        TrainConfig(captions_per_class=10, images_per_class=2, crop=227, center_loss_factor=0.01, amp="auto"),
        about="the paper's config-2: image + flipped copy + 10 encoded texts at 227 px crops"),
    # The demo's recipe on the paper's InceptionResNet-V1 trained from scratch, as `demo` was until issue 25's fifth
    # round; checkpoints/demo-paper is built from it (cli/demo.py: the paper's losses, width 0.25, full captions).
    # Ours for the synthetic demo then, sized to build from nothing in under 5 minutes on 2 CPU cores
    # (DEMO.md "What was measured"): a 0.375-width network at 80 px, per-image standardisation,
    # 32 classes x (1 image + 2 captions) a batch (more classes, fewer captions: 100 / 98.9 test R@10
    # against 97.5 / 92.6 for 24 x (1 + 3) in the same time), an in-batch contrastive term and the
    # caption-words head; 9 epochs (11 in issue 16); one torch thread (faster than two for this small network, and
    # the weights do not depend on the machine's core count), the batches prepared on the other core.
    # Half the chosen captions become short queries cut from them (what people type, docs/METHOD.md
    # §5b) and half of each batch is the classes described most like a random one (hard negatives):
    # typed two-thing queries P@5 1.7 (before, test) -> 66.7 % (trial v2sq50-hard50, val; DEMO.md
    # "Typed queries"). One DataLoader worker paints and reads the next batches on the other core
    # (60 steps: about 15 s against 20 s in the main process, on the AMD EPYC of issue 25). 9 epochs,
    # not 11: this session's machine trains about 300 samples/s where issue 16's trained 480, and 11
    # epochs built in 323 s (over the 5 minutes). Issue 25, for typed "a red circle" queries: a quarter
    # of the training scenes are counterfactual twins (data.demo.DEMO_TWINS), each in its scene's batch
    # (twin_batches), and a heavy caption-words head (weight 20, softmax) whose targets keep the shape
    # and colour names (words_max_df 0.3): one-thing P@5 on val 19.3 (the 9-epoch recipe before) ->
    # 62.9, two things 44.2 -> 90.8 (trial v2-twins25-wdf30-wsm-w20, DEMO.md "Typed queries"). Then phrase
    # positives (a short query is a positive of every picture in the batch that its phrases describe, not only
    # its own) with the words head at 40: one thing 62.9 -> 68.1, two things 90.8 -> 94.2 on val (trial pp-w40).
    "demo-irv1": Recipe(
        EncodingConfig(**_DEMO_ENCODING),
        ModelConfig(input_size=80, width=0.375, standardize=True, dropout_keep=1.0),
        TrainConfig(epochs=9, batch_size=96, captions_per_class=2, images_per_class=1, lr=3e-3,
                    warmup_steps=100, lr_schedule="cosine", center_loss_factor=0.01, contrastive_weight=1.0,
                    temperature=0.1, words_weight=40.0, words_loss="softmax", words_max_df=0.3,
                    val_images=200, val_every=3, threads=1, short_queries=0.5, hard_batches=0.5,
                    twin_batches=True, phrase_positives=True, workers=1),
        about="the demo's recipe on the paper's InceptionResNet-V1 from scratch (the demo's until issue 25's fifth "
              "round; the base of checkpoints/demo-paper)",
        timings=(Timing(285, "a 2-core AMD EPYC with AVX512-BF16", True, "the demo, 3,000 images, data to t-SNE",
                        "results/demo/build-irv1.json (python -m benchmarks.demo_build, 284.9 s)"),
                 Timing(18 * 60, "a 2-core Intel Xeon with AVX-512 and no native bf16", False,
                        "the demo, 3,000 images", "issue 21, the 11-epoch recipe: 211 of 891 steps in 4 min, "
                        "extrapolated (not measured with the 9-epoch recipe)"))),
}
# Ours for the synthetic demo (issue 25, fifth round; DEMO.md "Typed queries"): the demo-irv1 recipe on the ImageNet-
# pretrained EfficientNet-Lite0 trunk (docs/METHOD.md §2b) with its stem and first 4 blocks frozen, at the same 80 px.
# On InceptionResNet-V1 trained from scratch a third of one-thing queries' wrong answers were another shape of the
# right colour (a circle for a hexagon, results/demo/one-thing-misses.json); on the pretrained trunk next to none, and
# one-thing P@5 on val rose from 68.1 / 60.5 (seeds 0 / 1) to 76.1-81.6 (trials lite0-f0-80, -f2-80 at 9 epochs,
# lite0-f4-e4, -e5, -e6; DEMO.md's table has every trial of the round, the levers that did not help too). A Lite0
# step costs about 2.5x the small from-scratch network's, so the demo trains 4 epochs with two torch threads (x2 on
# this step; painting a batch in the main process is 0.07 s of its 0.6 s), AdamW: 5 epochs built in 312 s, over the
# 5 minutes (results/demo/build-5-epochs.json). Val one thing / two things at 4, 5, 6 epochs: 76.1 / 85.8, 78.3 / 89.2,
# 76.9 / 94.2 (trials lite0-f4-e4, -e5, -e6); 6 frozen blocks or 72 px at 5 epochs were worse (lite0-f6-e5, -72px).
# Round seven: the network still reads a picture as a bag of colours and shapes (every training lever of round six,
# a stride-16 last map and a bilinear pooled term left the binding margins at 0), so short typed queries are also
# scored against each picture's half-side windows on a 4 x 4 grid (ModelConfig.regions, docs/METHOD.md §7c): val
# one thing P@5 72.6 -> 95.1 on the same weights, 4 chosen on val among 2-5 (results/regions.jsonl).
_IRV1_DEMO = RECIPES["demo-irv1"]
RECIPES["demo"] = Recipe(
    _IRV1_DEMO.encoding,
    ModelConfig(backbone="efficientnet_lite0", pretrained=True, freeze_blocks=4, input_size=80, dropout_keep=1.0,
                regions=4),
    replace(_IRV1_DEMO.train, epochs=4, optimizer="adamw", threads=2, workers=0),
    about="ours for the synthetic demo: the pretrained Lite0 trunk, builds from nothing in under 5 minutes on 2 CPU "
          "cores (DEMO.md)",
    timings=(Timing(284, "a 2-core AMD EPYC with AVX512-BF16", True, "the demo, 3,000 images, data to t-SNE",
                    "results/demo/build.json (python -m benchmarks.demo_build, 284.0 s)"),
             # the Lite0 trunk trains in fp32 on both CPUs; issue 20 measured its step 1.7x slower on the Xeon
             Timing(round(1.7 * 284), "a 2-core Intel Xeon with AVX-512 and no native bf16", False,
                    "the demo, 3,000 images", "estimated: results/demo/build.json's 284.0 s x 1.7, the Lite0 step's "
                    "Xeon / EPYC ratio measured in issue 20 (not measured whole on the Xeon)")))
# Ours, issue 20: `pretrained` plus the CCA reference fitted on the training split as a teacher (docs/METHOD.md
# §3c: each photo's and caption's embedding pulled toward the reference's vector of it, weight 5), in the
# 12 epochs one core trains within the hour. At equal epochs of the 20-epoch schedule the teacher raised
# val rsum 97.6 -> 120.5 at epoch 12 and 110.4 -> 130.7 at epoch 16 (runs f8k-default, f8k-teacher5); at
# weight 20 it fell far behind (f8k-teacher20). Photos at 160 px instead of 112 led every screen
# (f8k-p160) but cost 2.4x a step with 6 blocks frozen; with 11 frozen (and cached) the 160 px step is
# as fast as 112 px with 6 (benchmarks/results-issue20-photo-size.json), and the 12-epoch run reached
# val rsum 129.5 against 119.7 at 112 px (f8k-t5-p160-f11 vs f8k-teacher5-e12). docs/RESULTS.md, "A teacher".
# Then the painted numbers (docs/METHOD.md §1b): the reference's 300-d Word2Vec projected onto its 36 leading
# canonical directions instead of a 36-d Word2Vec (the reference fit is the teacher's, so it costs nothing more):
# 129.5 -> 139.9 in the same 12 epochs (f8k-wcca36; docs/RESULTS.md, "A sixth lever"). A trained network's photos
# rank the reference's captions better than the reference's photos do; its captions are the weak side, so the
# teacher pulls captions three times as hard as photos: 139.9 -> 146.6 (f8k-wcca36-tm3, "A seventh lever").
# Then the learning rate (docs/RESULTS.md, "An eighth lever"): 3x the pretrained recipe's (3e-3), on 14 epochs: val
# rsum 146.6 -> 165.9, every R@K at or above the CCA reference's, in a 50.3-min whole run on one core beside another
# run (f8k-lr3e3-e14); the same with --seed 1: 164.3, every R@K above too (f8k-lr3e3-e14-s1). 12 epochs at 3e-3
# and 4e-3 fell short of the reference on text->image R@5 (161.0, 159.3); 16 epochs took 66 min on a slower session.
_PRE = RECIPES["pretrained"]
RECIPES["teacher"] = Recipe(
    replace(_PRE.encoding, word_vectors="cca"), replace(_PRE.model, input_size=160, freeze_blocks=11),
    replace(_PRE.train, epochs=14, lr=3e-3, teacher_weight=5.0, teacher_text_mult=3.0),
    about="ours: the pretrained trunk taught by the CCA reference (captions pulled 3x as hard as photos), painting "
          "the reference's word vectors, photos at 160 px through 11 frozen blocks, 14 epochs at 3x the pretrained "
          "recipe's learning rate (the best measured on real data within an hour on one core: every val R@K at or "
          "above the CCA reference's)",
    timings=(Timing(3017, "one core of a 2-core AMD EPYC with AVX512-BF16 (the other core busy too)",
                    True, "Flickr8k, 6,000 images", "results/flickr8k/f8k-lr3e3-e14/run.json"),))
# Ours, issue 20 item 3: the default recipe for a user with two idle cores: the same configs, epochs and learning
# rate with two torch threads (faster than DDP with gloo on this 2-core CPU, docs/RESULTS.md "Time on one core and on
# two"). Its whole run (f8k-lr3e3-e14-2t) reached val rsum 169.4, every R@K above the CCA reference's, in 34.7 min
# against the one-thread run's 165.9 in 50.3 min (docs/RESULTS.md, "Both cores"). Before the default's learning rate
# was raised it was 1e-3 on a 32-epoch schedule (f8k-wcca36-tm3-2t-e32: rsum 162.2 in 84 min on a slower session).
_TEACHER = RECIPES["teacher"]
RECIPES["two-cores"] = Recipe(
    _TEACHER.encoding, _TEACHER.model, replace(_TEACHER.train, threads=2),
    about="ours: the default (teacher) recipe with two torch threads, for two idle cores (every val R@K above the "
          "CCA reference's on Flickr8k, in about 35 min)",
    timings=(Timing(2083, "two idle cores (--threads 2) of a 2-core AMD EPYC with AVX512-BF16", True,
                    "Flickr8k, 6,000 images", "results/flickr8k/f8k-lr3e3-e14-2t/run.json"),))
# Ours, issue 20, for a CPU slower than the recorded one (with --budget-min): the default with the painted captions at
# 192 px while the photos stay at 160 (ModelConfig.text_input_size, docs/METHOD.md §2d), on 10 epochs. Larger
# captions give the trainable blocks more places a word: on the same 10-epoch schedule val rsum 107.1 against 89.5
# at epoch 4 and 167.7 against 155.8 at epoch 10 (f8k-t192-e10, f8k-lr3e3-e10), for 1.4x the step; in time level
# with the default (167.7 in 52.0 min against 165.9 in 50.3). Under the 35-min budget that stands for the Intel
# Xeon's hour it kept 6 epochs and reached 157.7 against the default's 140.7 (f8k-t192-b35, f8k-budget35;
# docs/RESULTS.md, "Captions at their own side"). Not the default: one run each, and level on the AMD EPYC's hour.
RECIPES["captions-192"] = Recipe(
    _TEACHER.encoding, replace(_TEACHER.model, text_input_size=192), replace(_TEACHER.train, epochs=10),
    about="ours: the default (teacher) recipe with the painted captions at 192 px (photos at 160) on 10 epochs: more "
          "quality an epoch for as much more a step; with --budget-min on a slower CPU, the most quality in its hour",
    timings=(Timing(3118, "one core of a 2-core AMD EPYC with AVX512-BF16 (the other core busy too)",
                    True, "Flickr8k, 6,000 images", "results/flickr8k/f8k-t192-e10/run.json"),))
RECIPES["config-2"] = RECIPES["paper-config2"]  # the paper's own name for it
RECIPES["default"] = RECIPES["teacher"]  # the best measured on real data within the hour (docs/RESULTS.md)


def recipe(name: str) -> Recipe:
    """A copy of the named recipe's configs (callers may change it freely)."""
    r = RECIPES.get(name)
    if r is None:
        raise XmrError(f"unknown recipe {name!r}; choose from {sorted(RECIPES)}")
    return copy.deepcopy(r)


def recorded_time(name: str, native_bf16: bool | None = None) -> Timing | None:
    """The recipe's recorded training time on a CPU of this kind: with native bf16 or without
    (None: this machine's, ``hardware.cpu_has_native_bf16``); else its first record; None if it has none."""
    timings = recipe(name).timings
    if not timings:
        return None
    if native_bf16 is None:
        from .hardware import cpu_has_native_bf16

        native_bf16 = cpu_has_native_bf16()
    return next((t for t in timings if t.native_bf16 == native_bf16), timings[0])


def format_duration(seconds: float) -> str:
    """216 -> '3.6 min', 3480 -> '58 min', 7680 -> '2 h 8 min'."""
    minutes = seconds / 60
    if minutes < 10:
        return f"{minutes:.1f} min"
    h, m = divmod(round(minutes), 60)
    return f"{h} h {m} min" if h else f"{m} min"


def training_time_note(name: str, native_bf16: bool | None = None) -> str | None:
    """The recipe's recorded training time in words, naming the CPU it was measured on and where it
    is recorded (the Query page's estimate); None when the recipe has no recorded time."""
    if native_bf16 is None:
        from .hardware import cpu_has_native_bf16

        native_bf16 = cpu_has_native_bf16()
    t = recorded_time(name, native_bf16)
    if t is None:
        return None
    other = "" if t.native_bf16 == native_bf16 else (
        "; this CPU has native bf16 and that one had not" if native_bf16 else
        "; this CPU lacks the native bf16 that one had, so expect it to take longer")
    return f"{format_duration(t.seconds)} on {t.cpu} for {t.data} ({t.source}{other})"
