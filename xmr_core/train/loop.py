"""``train()``: set up once, then the loop. Exact resume: all data randomness is a function of
(seed, epoch, position) and the torch RNG state is checkpointed, so ``--resume`` continues an
interrupted run to the same weights as an uninterrupted one."""
from __future__ import annotations

import contextlib
import random
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..config import EncodingConfig, ModelConfig, TrainConfig, to_dict
from ..data import Dataset, load_dataset
from ..errors import XmrError
from ..hardware import keep_freed_memory
from .frozen_cache import CachedClassSamples
from ..losses import Batch, CenterLoss, text_info, training_losses
from ..network.inference import Embedder
from ..bundle.run import save_weights, write_bundle_meta
from ..text.encoder import TextEncoder
from .checkpoint import Position, Stop, load_state, save_state
from .distributed import barrier, gather, world
from .heads import TrainModule, as_outputs, split_negatives
from .log import EpochMeter, Reporter, write_log
from .optim import make_optimizer, set_lr
from .resume import read_saved, saved_configs, saved_source
from .runfolder import RunLock, abandon, clear_derived, prepare, promote
from .precision import amp_dtype, make_scaler, pick_device, use_channels_last
from .teacher import fit_training_reference, teacher_from
from .budget import StepClock, decide
from .samples import (BatchList, ClassSamples, class_features, collate, epoch_batches, lexicon_of, twin_groups,
                      word_targets)
from .validate import validate, validates_after


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    epochs_done: int
    interrupted: bool
    log: list[dict[str, Any]]


@dataclass
class _Run:
    """Everything the loop reads, built once by ``_setup``."""

    run_dir: Path
    t: TrainConfig
    device: torch.device
    rank: int
    world: int
    module: TrainModule               # the network and its heads (what is saved)
    net: nn.Module                    # what is called: the module, maybe DDP-wrapped / compiled
    centers: CenterLoss
    opt: torch.optim.Optimizer
    samples: torch.utils.data.Dataset
    word_targets: torch.Tensor | None
    embedder: Embedder                # for validation
    ds_val: Dataset | None
    channels_last: bool
    amp: torch.dtype | None
    n_classes: int
    classes_per_batch: int
    steps_per_epoch: int              # this rank's
    total_steps: int                  # the LR schedule's length (max_steps only cuts a run short)

    scaler: torch.amp.GradScaler | None = None  # fp16 on CUDA: the loss scale (else a no-op)
    final_dir: Path | None = None     # where the run ends up (run_dir is a staging folder until then)
    weights_changed: bool = False     # set at the first save (stale evaluation outputs removed then)
    teacher: Any = None               # TrainConfig.teacher_weight: the CCA teacher (teacher.py)
    class_features: Any = None        # hard batches: one unit vector a class (samples.class_features)
    twin_groups: Any = None           # twin batches: one group id a class (samples.twin_groups)
    started: float = 0.0              # time.time() at train()'s start (TrainConfig.budget_min counts from it)
    clock: StepClock | None = None    # TrainConfig.budget_min, until the epochs are chosen (budget.py)

    @property
    def state_path(self) -> Path:
        return self.run_dir / "last.pt"


def train(run_dir: str | Path, dataset: str, images_dir: str | None = None,
          enc_cfg: EncodingConfig | None = None, model_cfg: ModelConfig | None = None,
          train_cfg: TrainConfig | None = None, resume: bool = False, skip_missing: bool = False,
          recipe_name: str = "custom", progress: bool | Any = True, train_split: str = "train",
          val_split: str = "val", resume_overrides: dict[str, Any] | None = None,
          overwrite: bool = False) -> TrainResult:
    """Train and write the run bundle ``run_dir`` (see ``xmr_core.bundle.run``).

    A folder holding a run is refused unless ``resume`` (which needs its ``last.pt``) or
    ``overwrite``; a new run is written beside it and moved in at its first checkpoint; the
    folder is locked while training (``runfolder.py``). On ``resume`` the bundle's saved configs
    and data (dataset, splits) are used; ``resume_overrides`` may change only
    ``resume.CHANGEABLE`` (the run's length and how it runs, e.g. ``epochs``, ``workers``).
    ``progress``: True for tqdm, False for silence, or a callable
    ``progress(step, total_steps, info_dict)`` (the app's progress bar).
    """
    run_dir, started = Path(run_dir), time.time()
    source = {"spec": str(dataset), "images_dir": images_dir, "train_split": train_split, "val_split": val_split,
              "skip_missing": skip_missing}
    rank = world()[0]
    with (RunLock(run_dir) if rank == 0 else contextlib.nullcontext()):
        work = prepare(run_dir, resume, overwrite) if rank == 0 else run_dir
        if resume:
            saved = read_saved(run_dir)
            enc_cfg, model_cfg, train_cfg = saved_configs(saved, run_dir, resume_overrides)
            source, recipe_name = saved_source(saved, source), saved.get("recipe", recipe_name)
        cfgs = (enc_cfg or EncodingConfig(), model_cfg or ModelConfig(), train_cfg or TrainConfig())
        try:
            r, pos = _setup(work, cfgs, source, recipe_name, resume, progress)
            r.final_dir, r.started = run_dir, started
            # A budget is spent once: a resumed run keeps the epochs its first part chose (config.json)
            if r.t.budget_min and not (resume and "budget" in saved):
                r.clock = StepClock()
            return _loop(r, pos, progress)
        finally:
            if work != run_dir:
                abandon(work)  # no-op once promoted (moved away); else the failed start's files


def _setup(run_dir: Path, cfgs: tuple[EncodingConfig, ModelConfig, TrainConfig], source: dict[str, Any],
           recipe_name: str, resume: bool, progress: Any) -> tuple[_Run, Position]:
    enc_cfg, model_cfg, t = cfgs
    rank, n_world = world()
    if t.threads:
        torch.set_num_threads(t.threads)
    device = pick_device(t, n_world)
    # Keep freed activation buffers for the next step instead of faulting them in again (hardware.py):
    # measured on the cached-trunk step (x1.14 on one thread, the default recipe); on the demo recipe
    # (no cache) the gain was small and a whole fast build measured slower, so it is left as it was.
    allocator = keep_freed_memory() if device.type == "cpu" and t.cache_frozen else None
    random.seed(t.seed)
    np.random.seed(t.seed)
    torch.manual_seed(t.seed)

    ds_all = load_dataset(source["spec"], source["images_dir"], source["skip_missing"])
    ds = ds_all.split(source["train_split"])
    try:
        ds_val = ds_all.split(source["val_split"]) if t.val_every else None
    except XmrError:
        if source["val_split"] != "val":  # a split the user named must exist; the default may not
            raise
        ds_val = None
    reference = _reference(run_dir, ds, enc_cfg, model_cfg, t, resume, progress is True and rank == 0)
    encoder = _encoder(run_dir, ds, enc_cfg, resume, rank, reference)
    n_classes = len(ds)
    cpb = t.classes_per_batch or max(2, t.batch_size // (t.images_per_class + t.captions_per_class))
    if cpb > n_classes:
        raise XmrError(f"{cpb} classes a batch but only {n_classes} training images")
    steps_per_epoch = n_classes // cpb // n_world

    module, centers, opt, words_vocab, words_y, channels_last = _build(ds, model_cfg, t, device)
    config = {"recipe": recipe_name, "encoding": to_dict(enc_cfg), "model": to_dict(model_cfg), "train": to_dict(t),
              "dataset": {**source, "name": ds_all.name, "n_classes": n_classes}, "world_size": n_world,
              "allocator": allocator or "system default"}
    if model_cfg.pretrained:  # where the starting weights came from (shown on the Overview page)
        from ..network.efficientnet import weights_provenance

        config["backbone_weights"] = weights_provenance()
    teacher = teacher_from(reference, enc_cfg, t, config)
    amp = amp_dtype(t, device, model_cfg.backbone)
    scaler, pos = make_scaler(amp, device), Position()
    if resume and (run_dir / "last.pt").is_file():
        pos = load_state(run_dir / "last.pt", device, module, opt, centers, scaler)
    if rank == 0:
        write_bundle_meta(run_dir, config)
    r = _Run(run_dir, t, device, rank, n_world, module, _wrap(module, t, device, n_world), centers, opt,
             _samples(ds, encoder, module, model_cfg, t, progress is True and rank == 0, channels_last),
             words_y, Embedder(module.net, encoder, model_cfg, device=device, channels_last=channels_last,
                               text_crop=t.crop),
             ds_val, channels_last, amp, n_classes, cpb, steps_per_epoch, steps_per_epoch * t.epochs, scaler)
    r.teacher = teacher  # its samples hand collate their caption texts (texts_travel)
    if t.hard_batches:
        r.class_features = class_features(ds, encoder)
    if t.twin_batches:
        r.twin_groups = twin_groups(ds)
    if t.short_query_words == "own" and words_vocab and hasattr(r.samples, "words_index"):
        r.samples.words_index = {w: i for i, w in enumerate(words_vocab)}  # collate's own-words targets
    return r, pos


def _reference(run_dir: Path, ds: Dataset, enc_cfg: EncodingConfig, model_cfg: ModelConfig, t: TrainConfig,
               resume: bool, progress: bool) -> tuple[Any, np.ndarray, float] | None:
    """The CCA reference fitted on the training split (``teacher.fit_training_reference``), once for what
    needs it: the teacher (``teacher_weight``) and the ``cca`` painted word vectors (unless a resumed run
    has its encoder already); None when nothing does."""
    words = enc_cfg.word_vectors == "cca" and not (resume and (run_dir / "encoder.json").is_file())
    if not (t.teacher_weight or words):
        return None
    if words and enc_cfg.vector_size > model_cfg.embedding_size:
        raise XmrError(f"--word-vectors cca paints the CCA reference's leading directions; it has "
                       f"{model_cfg.embedding_size} (the embedding size), so --vector-size must be at most "
                       f"{model_cfg.embedding_size} (got {enc_cfg.vector_size})")
    return fit_training_reference(ds, model_cfg.embedding_size, t.teacher_image_size, progress)


def _encoder(run_dir: Path, ds: Dataset, enc_cfg: EncodingConfig, resume: bool, rank: int,
             reference: tuple[Any, np.ndarray, float] | None = None) -> TextEncoder:
    """The painted word vectors (docs/METHOD.md §1, §1b): Word2Vec on the training captions, or with
    ``word_vectors = "cca"`` the fitted ``reference``'s projected ones; fitted once per run (rank 0 saves it)."""
    if resume and (run_dir / "encoder.json").is_file():
        encoder = TextEncoder.load(run_dir)
    else:
        if enc_cfg.word_vectors == "cca":
            from ..network.cca_fit import cca_word_vectors

            encoder = TextEncoder(cca_word_vectors(reference[0], enc_cfg.vector_size), enc_cfg)
        else:
            encoder = TextEncoder.fit([c.text for c in ds.captions], enc_cfg)
        if rank == 0:
            run_dir.mkdir(parents=True, exist_ok=True)
            encoder.save(run_dir)
    barrier()
    return encoder


def _build(ds: Dataset, model_cfg: ModelConfig, t: TrainConfig, device: torch.device) -> tuple:
    """The network with its heads, the class centres, the optimiser, the words head's words and targets."""
    lexicon = lexicon_of(ds) if t.words_lexicon else None
    words_vocab, words_y = (word_targets(ds, t.words_vocab, t.words_max_df, t.words_phrases, t.words_singles,
                                         lexicon) if t.words_weight else ([], None))
    if words_y is not None:
        words_y = words_y.to(device)
    if t.cache_frozen and not model_cfg.freeze_blocks:
        raise XmrError("--cache-frozen needs frozen blocks (--freeze-blocks N with a pretrained backbone)")
    module = TrainModule(model_cfg, len(ds), len(words_vocab), from_frozen=t.cache_frozen,
                         words_hidden=t.words_hidden).to(device)
    channels_last = use_channels_last(t, device)
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    centers = CenterLoss(len(ds), model_cfg.embedding_size, alpha=t.center_loss_alpha).to(device)
    return module, centers, make_optimizer(module, t), words_vocab, words_y, channels_last


def _wrap(module: nn.Module, t: TrainConfig, device: torch.device, n_world: int) -> nn.Module:
    net: nn.Module = module
    if n_world > 1:
        net = nn.parallel.DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)
    if t.compile and device.type == "cuda":
        net = torch.compile(net)  # type: ignore[assignment]
    return net


def _samples(ds: Dataset, encoder: TextEncoder, module: TrainModule, model_cfg: ModelConfig, t: TrainConfig,
             progress: bool, channels_last: bool) -> torch.utils.data.Dataset:
    if t.cache_frozen:
        return CachedClassSamples(ds, encoder, module.net, model_cfg, t, progress=progress,
                                  channels_last=channels_last)
    return ClassSamples(ds, encoder, model_cfg, t)


# ----------------------------------------------------------------------------- the loop
def _loop(r: _Run, pos: Position, progress: Any) -> TrainResult:
    t = r.t
    limit = min(r.total_steps, t.max_steps) if t.max_steps else r.total_steps
    rep = Reporter(progress, r.rank, limit, pos.step, (r.final_dir or r.run_dir).name)
    interrupted, t_run = False, time.time()
    try:
        with Stop() as stop:
            while pos.epoch < r.t.epochs and not (t.max_steps and pos.step >= t.max_steps):
                n_mine, meter = _run_epoch(r, pos, stop, rep)
                if stop.flag:
                    interrupted = True
                    _save(r, pos)
                    break
                done_epoch = pos.in_epoch >= n_mine
                row: dict[str, Any] = {"epoch": pos.epoch + 1, "step": pos.step, **meter.means(),
                                       "lr": r.opt.param_groups[0]["lr"], "samples_per_s": meter.samples_per_s(),
                                       "seconds": time.time() - t_run}
                if done_epoch:
                    pos.epoch, pos.in_epoch = pos.epoch + 1, 0
                    if r.rank == 0 and r.ds_val is not None and validates_after(pos.epoch, r.t.epochs, t.val_every):
                        row.update(_validate_keeping_work(r, pos, row))
                    pos.log.append(row)
                    rep.epoch(row)
                _save(r, pos)
                if not done_epoch:
                    break  # max_steps reached mid-epoch
    finally:
        rep.close()
    barrier()
    return TrainResult(r.final_dir or r.run_dir, pos.step, pos.epoch, interrupted, pos.log)


def _validate_keeping_work(r: _Run, pos: Position, row: dict[str, Any]) -> dict[str, float]:
    """The periodic R@K; if it fails, the epoch just trained is checkpointed before the error goes up."""
    try:
        return validate(r.embedder, r.ds_val, r.t.val_images, r.t.seed)
    except BaseException:
        pos.log.append(row)
        _save(r, pos)
        raise


def _run_epoch(r: _Run, pos: Position, stop: Stop, rep: Reporter) -> tuple[int, EpochMeter]:
    """The rest of the current epoch (from ``pos.in_epoch``); returns this rank's batches in it."""
    t = r.t
    batches = epoch_batches(r.n_classes, r.classes_per_batch, t.seed, pos.epoch, r.class_features,
                            t.hard_batches, r.twin_groups)[: r.steps_per_epoch * r.world]
    mine = batches[r.rank::r.world]
    loader = torch.utils.data.DataLoader(
        r.samples, batch_sampler=BatchList([[(pos.epoch, k) for k in b] for b in mine][pos.in_epoch:]),
        collate_fn=partial(collate, phrase_index=getattr(r.samples, "phrase_index", None),
                           words_index=getattr(r.samples, "words_index", None)),
        num_workers=t.workers, persistent_workers=False, pin_memory=r.device.type == "cuda",
        # Own generator: creating an iterator must not draw from the global torch RNG
        # (dropout's), or a resumed run would drift from an uninterrupted one.
        generator=torch.Generator().manual_seed(t.seed * 1000 + pos.epoch),
        prefetch_factor=4 if t.workers else None)
    meter = EpochMeter()
    r.module.train()
    for imgs, il, txts, tl, *info in loader:  # info: the texts' relevance and short-query flags (collate)
        losses = _step(r, pos.step, imgs, il, txts, tl, info[0] if info else None)
        pos.step += 1
        pos.in_epoch += 1
        if r.clock is not None and (step_s := r.clock.tick(pos.in_epoch == 1)) is not None:
            decide(r, pos, rep, step_s)
            r.clock = None
        sps = meter.add(losses, (imgs.shape[0] + txts.shape[0]) * r.world)
        rep.step(pos.step, r.total_steps, pos.epoch, losses, sps)
        if stop.flag or (t.max_steps and pos.step >= t.max_steps):
            break
    return len(mine), meter


def _step(r: _Run, step: int, imgs: torch.Tensor, il: torch.Tensor, txts: torch.Tensor,
          tl: torch.Tensor, info: dict | None = None) -> dict[str, float]:
    """One optimiser step; returns the loss terms."""
    negs = info.get("negatives") if info is not None else None  # swapped captions (TrainConfig.swap_negatives)
    texts = [txts] + ([negs] if negs is not None else [])
    # photos and captions at different sides (ModelConfig.text_input_size) go as two parts of one batch; else one
    # tensor, copied once
    xs = [torch.cat([imgs, *texts])] if imgs.shape[-2:] == txts.shape[-2:] else [imgs, torch.cat(texts)]
    xs = [v.to(r.device, non_blocking=True) for v in xs]
    if r.channels_last:
        xs = [v.contiguous(memory_format=torch.channels_last) for v in xs]
    x = xs if len(xs) > 1 else xs[0]
    y = torch.cat([il, tl]).to(r.device, non_blocking=True)
    set_lr(r.opt, r.t, step, r.total_steps)
    with torch.autocast(r.device.type, dtype=r.amp or torch.float32, enabled=r.amp is not None):
        out = as_outputs(r.net(x))
    out, neg_emb = split_negatives(out, len(y))
    batch = Batch(y, imgs.shape[0], r.centers, r.word_targets,
                  **text_info(info, y, imgs.shape[0], r.t, r.word_targets), negatives=neg_emb)
    if r.teacher is not None and info is not None:
        batch.teacher = r.teacher.targets(il, info["texts"]).to(r.device)
    losses = training_losses(out, batch, r.t)
    # The centres move after the loss has read them, with every rank's batch (only what describes a
    # class whole moves its centre: a short query's row is its centre itself, so it adds nothing).
    emb = out.emb.detach()
    if batch.whole is not None:
        emb = torch.where(batch.whole.view(-1, 1), emb.float(), r.centers.centers.index_select(0, y))
    r.centers.update(gather(emb), gather(y))
    loss = losses["loss"]
    if not torch.isfinite(loss):
        raise XmrError(f"training diverged at step {step} (loss {loss.item()}); the last good checkpoint "
                       f"{r.state_path} is kept. Lower --lr or raise --warmup-steps and --resume.")
    r.opt.zero_grad(set_to_none=True)
    if r.scaler is not None:  # fp16: scaled backward; a step with inf/NaN gradients is skipped, the scale lowered
        r.scaler.scale(loss).backward()
        r.scaler.step(r.opt)
        r.scaler.update()
    else:
        loss.backward()
        r.opt.step()
    return {k: v.item() for k, v in losses.items()}


def _save(r: _Run, pos: Position) -> None:
    """Rank 0: the training state, the weights and the log (each written atomically)."""
    if r.rank != 0:
        return
    if not r.weights_changed:  # metrics, report, embeddings, t-SNE describe the old weights
        clear_derived(r.run_dir)
        r.weights_changed = True
    save_state(r.state_path, r.module, r.opt, r.centers, pos, r.scaler)
    save_weights(r.run_dir, r.module.net)
    write_log(r.run_dir / "train_log.csv", pos.log)
    if r.final_dir is not None and r.run_dir != r.final_dir:  # a new run's first checkpoint: move it in
        promote(r.run_dir, r.final_dir)
        r.run_dir = r.final_dir
