"""Losses (SPEC §3): facenet's center loss and an in-batch image<->caption InfoNCE term.

The total training loss (see the trainer) is
    CE(logits(x), y) + center_loss_factor * CenterLoss(x, y) [+ contrastive_weight * info_nce(...)]
where x is the pre-normalisation 128-d output of ``InceptionResNetV1.forward``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


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

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        features = features.float()  # autocast may hand us bf16; centres stay fp32
        labels = labels.to(device=self.centers.device, dtype=torch.long).view(-1)
        centers_batch = self.centers.index_select(0, labels)  # a copy: safe to update after
        loss = (features - centers_batch).pow(2).mean()
        if self.training:
            with torch.no_grad():
                diff = (1.0 - self.alpha) * (centers_batch - features.detach())
                self.centers.index_add_(0, labels, diff.to(self.centers.dtype), alpha=-1.0)
        return loss

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, dim={self.dim}, alpha={self.alpha}"


def info_nce(image_emb: torch.Tensor, text_emb: torch.Tensor, image_labels: torch.Tensor,
             text_labels: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Symmetric in-batch contrastive loss between images and captions (ours, SPEC §8).

    With u_i = image_emb_i / ||.||, v_j = text_emb_j / ||.||, s_ij = u_i . v_j / T and
    positives P(i) = {j : text_labels_j == image_labels_i} (several captions per image):

        L_i2t = mean_{i : P(i) nonempty}  -1/|P(i)| sum_{j in P(i)} log softmax_j(s_i.)
        L_t2i = mean_{j : P'(j) nonempty} -1/|P'(j)| sum_{i in P'(j)} log softmax_i(s_.j)
        loss  = (L_i2t + L_t2i) / 2

    i.e. supervised-contrastive style: each anchor averages the log-likelihood of all
    its positives among all candidates of the other modality. Anchors without a
    positive in the batch are ignored; with none at all the loss is 0 (still
    differentiable). Computed in fp32.
    """
    u = F.normalize(image_emb.float(), dim=1)
    v = F.normalize(text_emb.float(), dim=1)
    logits = u @ v.t() / float(temperature)  # (Ni, Nt)
    pos = image_labels.view(-1, 1).to(logits.device) == text_labels.view(1, -1).to(logits.device)
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
