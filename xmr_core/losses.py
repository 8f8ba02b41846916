"""Every training loss, in one place (docs/METHOD.md §3).

The total loss is a weighted sum of the terms in ``LOSS_TERMS``; each term's weight is a
``TrainConfig`` field, and its name is its key in ``training_losses``' result, its column in
``train_log.csv`` and its entry in the progress bar. The paper's loss is softmax cross-entropy
over the training classes plus center loss on the pre-normalisation 128-d output x:

    softmax_weight * CE(classifier(x), y) + center_loss_factor * CenterLoss(x, y)

Ours, off in the paper's recipes: ``contrastive_weight * info_nce`` (in-batch image<->caption)
and ``words_weight * words_loss`` (the caption-words head). A new loss = one config field (its
weight) + one function ``(outputs, batch, cfg) -> Tensor | None`` registered in ``LOSS_TERMS``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .config import TrainConfig
from .errors import XmrError


class CenterLoss(nn.Module):
    """facenet's ``center_loss`` (Wen et al. 2016, as in facenet ``train_softmax.py``).

    loss = mean_{i,d} (x_id - c_{y_i,d})^2          (``tf.reduce_mean(tf.square(features - centers_batch))``)

    i.e. the paper's ``1/2 sum_i ||x_i - c_{y_i}||^2`` up to a constant factor. The loss
    uses the centres as they were *before* this batch's update.

    ``centers`` (num_classes, dim) is a buffer (saved in the state_dict, moved by
    ``.to``, never seen by the optimiser), zeros at start. In training mode each call
    updates it in place, without gradient, exactly like facenet's ``tf.scatter_sub``:

        diff_i = (1 - alpha) * (c_{y_i} - x_i)      (c_{y_i} read before the update)
        c_{y_i} -= diff_i                           for every i; a label that appears k
                                                    times in the batch gets all k diffs
                                                    subtracted (index_add_ accumulates)

    Stability (a property of facenet's rule, kept on purpose): a label repeated k times in
    a batch moves its centre by k * (1 - alpha) times the mean offset, so the update
    overshoots when k * (1 - alpha) > 1 and diverges when it exceeds 2 (alpha = 0.95:
    keep k <= 20; the paper's 6 samples a class, or 12 in config-2, are well inside).
    """

    def __init__(self, num_classes: int, dim: int, alpha: float = 0.95):
        super().__init__()
        self.num_classes = int(num_classes)
        self.dim = int(dim)
        self.alpha = float(alpha)
        self.register_buffer("centers", torch.zeros(self.num_classes, self.dim))

    def _labels(self, labels: torch.Tensor) -> torch.Tensor:
        return labels.to(device=self.centers.device, dtype=torch.long).view(-1)

    def loss(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """mean((x - c_y)^2) against the current centres; does not move them."""
        features = features.float()  # autocast may hand us bf16; centres stay fp32
        return (features - self.centers.index_select(0, self._labels(labels))).pow(2).mean()

    @torch.no_grad()
    def update(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """facenet's centre update with this batch (under DDP: every rank's batch, gathered)."""
        labels = self._labels(labels)
        diff = (1.0 - self.alpha) * (self.centers.index_select(0, labels) - features.detach().float())
        self.centers.index_add_(0, labels, diff.to(self.centers.dtype), alpha=-1.0)

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss with the centres before this batch, then (in training mode) the update."""
        loss = self.loss(features, labels)
        if self.training:
            self.update(features, labels)
        return loss

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, dim={self.dim}, alpha={self.alpha}"


def info_nce(image_emb: torch.Tensor, text_emb: torch.Tensor, image_labels: torch.Tensor,
             text_labels: torch.Tensor, temperature: float = 0.1,
             relevance: torch.Tensor | None = None, negative_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric in-batch contrastive loss between images and captions (ours, docs/METHOD.md §9).

    With u_i = image_emb_i / ||.||, v_j = text_emb_j / ||.||, s_ij = u_i . v_j / T and
    positives P(i) = {j : text_labels_j == image_labels_i} (several captions per image):

        L_i2t = mean_{i : P(i) nonempty}  -1/|P(i)| sum_{j in P(i)} log softmax_j(s_i.)
        L_t2i = mean_{j : P'(j) nonempty} -1/|P'(j)| sum_{i in P'(j)} log softmax_i(s_.j)
        loss  = (L_i2t + L_t2i) / 2

    i.e. supervised-contrastive style: each anchor averages the log-likelihood of all
    its positives among all candidates of the other modality. Anchors without a
    positive in the batch are ignored; with none at all the loss is 0 (still
    differentiable). Computed in fp32.

    ``relevance`` (Ni, Nt) bool, optional: further positives, e.g. a short query "a red circle" and
    every picture of the batch whose captions say so (``TrainConfig.phrase_positives``), so it is
    not pushed away from them as if they were wrong answers.

    ``negative_weight`` (Ni, Nt) float >= 1, optional: how many times each (image, text) pair that is
    not a positive counts in both softmaxes (its logit + log w): hard negatives weighted up, e.g. a
    picture of a red square and a blue circle for "a red circle" (``TrainConfig.binding_negatives``).
    """
    u = F.normalize(image_emb.float(), dim=1)
    v = F.normalize(text_emb.float(), dim=1)
    logits = u @ v.t() / float(temperature)  # (Ni, Nt)
    pos = image_labels.view(-1, 1).to(logits.device) == text_labels.view(1, -1).to(logits.device)
    if relevance is not None:
        pos = pos | relevance.to(device=logits.device, dtype=torch.bool)
    if negative_weight is not None:
        w = negative_weight.to(device=logits.device, dtype=logits.dtype).clamp_min(1.0)
        logits = logits + torch.where(pos, torch.zeros_like(w), w.log())
    pos = pos.to(logits.dtype)

    def one_side(lg: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        n_pos = p.sum(dim=1)
        has = n_pos > 0
        if not bool(has.any()):
            return lg.sum() * 0.0
        logp = F.log_softmax(lg, dim=1)
        per_anchor = -(logp * p).sum(dim=1) / n_pos.clamp(min=1)
        return per_anchor[has].mean()

    return 0.5 * (one_side(logits, pos) + one_side(logits.t(), pos.t()))


def max_violation(image_emb: torch.Tensor, text_emb: torch.Tensor, image_labels: torch.Tensor,
                  text_labels: torch.Tensor, margin: float = 0.2,
                  relevance: torch.Tensor | None = None) -> torch.Tensor:
    """VSE++'s hinge on the hardest in-batch negative (Faghri et al. 2018, "max of hinges"; docs/METHOD.md §3).

    With s_ij the cosine of image i and text j, P the positive pairs (same label, or ``relevance``):

        loss = mean_{(i, j) in P} [ relu(margin - s_ij + max_{k : (i, k) not in P} s_ik)
                                  + relu(margin - s_ij + max_{l : (l, j) not in P} s_lj) ]

    Where InfoNCE spreads its gradient over all negatives, this term pushes only the one that
    outranks the pair: the retrieval that R@1 counts as wrong. 0 (still differentiable) without a
    positive pair; an anchor without a negative contributes nothing. Computed in fp32.
    """
    u = F.normalize(image_emb.float(), dim=1)
    v = F.normalize(text_emb.float(), dim=1)
    s = u @ v.t()  # (Ni, Nt)
    pos = image_labels.view(-1, 1).to(s.device) == text_labels.view(1, -1).to(s.device)
    if relevance is not None:
        pos = pos | relevance.to(device=s.device, dtype=torch.bool)
    if not bool(pos.any()):
        return s.sum() * 0.0
    neg = s.masked_fill(pos, float("-inf"))
    hardest_text, hardest_image = neg.max(dim=1).values, neg.max(dim=0).values  # (Ni,), (Nt,)
    cost = F.relu(margin - s + hardest_text.view(-1, 1)) + F.relu(margin - s + hardest_image.view(1, -1))
    return cost[pos].mean()


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


# ----------------------------------------------------------------------------- the training loss
@dataclass
class Outputs:
    """What the network and its training heads produced for one batch (fp32)."""

    emb: torch.Tensor                  # (N, d) pre-normalisation embeddings: images first, then captions
    logits: torch.Tensor | None        # (N, classes) the classifier's, None without it
    words: torch.Tensor | None         # (N, words) the caption-words head's, None without it


@dataclass
class Batch:
    """The targets of one batch and the training state the losses read."""

    labels: torch.Tensor               # (N,) class of each sample
    n_images: int                      # the first n_images samples are photos
    centers: CenterLoss                # the class centres (moved by the trainer, after the loss)
    word_targets: torch.Tensor | None  # (classes, words) multi-hot of each class's caption words
    text_relevance: torch.Tensor | None = None  # (captions, images) bool: the pictures each text describes
    text_binding: torch.Tensor | None = None  # (captions, images) bool: pictures with the text's words bound
    # to other things (TrainConfig.binding_negatives)
    whole: torch.Tensor | None = None  # (N,) bool: samples that describe their class whole (None: all);
    # short queries do not, and only the contrastive term trains them (TrainConfig.short_query_losses)
    own_words: torch.Tensor | None = None  # (N, words): a sample's words-head target where it is not its
    # class's (the own words of short queries, TrainConfig.short_query_words = "own"); None: all its class's
    teacher: torch.Tensor | None = None  # (N, d) unit targets from the CCA teacher (train/teacher.py)
    negatives: torch.Tensor | None = None  # (M, d) embeddings of swapped captions: wrong answers of every
    # picture in the contrastive term only, no class of their own (TrainConfig.swap_negatives)


def _softmax(o: Outputs, b: Batch, t: TrainConfig) -> torch.Tensor | None:
    # Computed whenever the classifier exists, even at weight 0: the `ce` column then shows how a
    # head that is not trained on fares (the default recipe logs it).
    return None if o.logits is None else F.cross_entropy(o.logits, b.labels)


def _center(o: Outputs, b: Batch, t: TrainConfig) -> torch.Tensor:
    if b.whole is not None:
        return b.centers.loss(o.emb[b.whole], b.labels[b.whole])
    return b.centers.loss(o.emb, b.labels)


def _contrastive(o: Outputs, b: Batch, t: TrainConfig) -> torch.Tensor | None:
    if not t.contrastive_weight:
        return None
    e = F.normalize(o.emb, dim=1)
    rel = None if b.text_relevance is None else b.text_relevance.t()
    weight = None
    if b.text_binding is not None and t.binding_negatives != 1.0:  # (images, captions): 1 or the binding weight
        weight = 1.0 + (t.binding_negatives - 1.0) * b.text_binding.t().float()
    texts, labels = e[b.n_images:], b.labels[b.n_images:]
    if b.negatives is not None and len(b.negatives):  # label -1: a positive of no picture
        m = len(b.negatives)
        texts = torch.cat([texts, F.normalize(b.negatives, dim=1)])
        labels = torch.cat([labels, labels.new_full((m,), -1)])
        if rel is not None:
            rel = torch.cat([rel, rel.new_zeros(rel.shape[0], m)], dim=1)
        if weight is not None:
            weight = torch.cat([weight, weight.new_ones(weight.shape[0], m)], dim=1)
    return info_nce(e[:b.n_images], texts, b.labels[:b.n_images], labels, t.temperature, rel, weight)


def _hardest(o: Outputs, b: Batch, t: TrainConfig) -> torch.Tensor | None:
    if not t.hard_negative_weight:
        return None
    rel = None if b.text_relevance is None else b.text_relevance.t()
    return max_violation(o.emb[:b.n_images], o.emb[b.n_images:], b.labels[:b.n_images], b.labels[b.n_images:],
                         t.hard_negative_margin, rel)


def _words(o: Outputs, b: Batch, t: TrainConfig) -> torch.Tensor | None:
    if o.words is None or b.word_targets is None:
        return None
    target = b.word_targets[b.labels] if b.own_words is None else b.own_words
    if b.whole is not None:
        return words_loss(o.words[b.whole], target[b.whole], t.words_loss)
    return words_loss(o.words, target, t.words_loss)


def _teacher(o: Outputs, b: Batch, t: TrainConfig) -> torch.Tensor | None:
    # 1 - cosine to the teacher's unit vector: a dense target for every photo and caption, not only
    # the in-batch ranking (docs/METHOD.md §3c)
    if not t.teacher_weight or b.teacher is None:
        return None
    miss = 1.0 - (F.normalize(o.emb.float(), dim=1) * b.teacher).sum(1)
    if t.teacher_text_mult != 1.0:  # captions (after the batch's n_images photos) pulled harder or softer
        miss = torch.cat([miss[:b.n_images], t.teacher_text_mult * miss[b.n_images:]])
    return miss.mean()


def text_info(info: dict | None, labels: torch.Tensor, n_images: int, t: TrainConfig,
              word_targets: torch.Tensor | None = None) -> dict[str, torch.Tensor | None]:
    """``text_relevance``, ``text_binding``, ``whole`` and ``own_words`` of a :class:`Batch` (keyword
    arguments) from what collate says of its texts (``train.samples.collate``) and the batch's ``labels`` (images first);
    all None when it says nothing."""
    out: dict[str, torch.Tensor | None] = {"text_relevance": None, "text_binding": None, "whole": None,
                                           "own_words": None}
    if info is None:
        return out
    device = labels.device
    if info.get("relevance") is not None:
        out["text_relevance"] = info["relevance"].to(device)
    if info.get("binding") is not None:
        out["text_binding"] = info["binding"].to(device)
    short = info["short"].to(device)
    if t.short_query_losses == "nce":
        out["whole"] = torch.cat([torch.ones(n_images, dtype=torch.bool, device=device), ~short])
    own = info.get("words")
    if own is not None and word_targets is not None:
        # a short query's own words where it names any of the head's words (else its class's, as before)
        target = word_targets[labels].clone()
        use = short & (own.sum(1).to(device) > 0)
        target[n_images:][use] = own.to(device=device, dtype=target.dtype)[use]
        out["own_words"] = target
    return out


LossFn = Callable[[Outputs, Batch, TrainConfig], "torch.Tensor | None"]
# name -> (the TrainConfig field holding its weight, the function); the order is the summation order.
LOSS_TERMS: dict[str, tuple[str, LossFn]] = {
    "ce": ("softmax_weight", _softmax),
    "center": ("center_loss_factor", _center),
    "nce": ("contrastive_weight", _contrastive),
    "hard": ("hard_negative_weight", _hardest),
    "words": ("words_weight", _words),
    "teacher": ("teacher_weight", _teacher),
}


def training_losses(outputs: Outputs, batch: Batch, cfg: TrainConfig) -> dict[str, torch.Tensor]:
    """Every active term by name, and ``loss``: their weighted sum (the one to backpropagate)."""
    terms = {name: v for name, (_, fn) in LOSS_TERMS.items() if (v := fn(outputs, batch, cfg)) is not None}
    total = None
    for name, v in terms.items():
        w = v * getattr(cfg, LOSS_TERMS[name][0])
        total = w if total is None else total + w
    return {"loss": total, **terms}
