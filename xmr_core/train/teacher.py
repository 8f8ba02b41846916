"""A teacher for the one network: the CCA reference fitted on the training split (docs/METHOD.md §3c).

The reference (``evaluation/reference.py``) places a photo by its frozen ImageNet features at
``teacher_image_size`` px and a sentence by the mean of its 300-d Word2Vec vectors; on Flickr8k val it
ranks better than the network trained from pairs alone (docs/RESULTS.md). Its two projections give
every training sample a dense target in one shared space: the network's unit embedding of a photo is
pulled toward the reference's unit vector of that photo, and of a painted caption toward the reference's
vector of that caption's text (``losses._teacher``). The network still reads only pixels: the teacher
is used in training, never at inference.
"""
from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
import torch

from ..config import EncodingConfig, TrainConfig
from ..data import Dataset
from ..errors import XmrError


class CCATeacher:
    """Unit target vectors: one a training photo (by class), and any text by its words."""

    def __init__(self, encoder: Any, image_vectors: np.ndarray, seconds: float = 0.0) -> None:
        self.encoder = encoder                                   # network.cca_encoder.CCAEncoder
        self.images = torch.from_numpy(np.ascontiguousarray(image_vectors, np.float32))  # (classes, dim)
        self.seconds = seconds                                   # the fit's wall time (logged in config.json)

    @property
    def dim(self) -> int:
        return int(self.images.shape[1])

    @classmethod
    def fit(cls, ds: Dataset, dim: int, image_size: int = 160, progress: bool = True) -> "CCATeacher":
        """Fit the reference on ``ds`` (the training split; classes in ``ds.images`` order) with its
        tuned settings (``CCAConfig``) and ``dim`` directions (the network's embedding size)."""
        return cls.from_reference(*fit_training_reference(ds, dim, image_size, progress))

    @classmethod
    def from_reference(cls, enc: Any, feats: np.ndarray, seconds: float = 0.0) -> "CCATeacher":
        """The teacher of a reference already fitted on the training split (``fit_training_reference``)."""
        return cls(enc, enc.project_features(feats), seconds)

    def text_vectors(self, texts: Sequence[str]) -> torch.Tensor:
        """(n, dim) unit vectors of ``texts`` (what a short query or a caption means to the reference)."""
        from ..network.cca_encoder import mean_vectors

        return torch.from_numpy(self.encoder.project_word_means(mean_vectors(self.encoder.kv, list(texts))))

    def targets(self, image_labels: torch.Tensor, texts: Sequence[str]) -> torch.Tensor:
        """A batch's targets in its order: the photos' (by class label), then the texts'."""
        return torch.cat([self.images.index_select(0, image_labels.cpu()), self.text_vectors(texts)])


def fit_training_reference(ds: Dataset, dim: int, image_size: int = 160,
                           progress: bool = True) -> tuple[Any, np.ndarray, float]:
    """The CCA reference fitted on the training split ``ds`` with its tuned settings (``CCAConfig``) and
    ``dim`` directions: (the encoder, the training photos' trunk features in ``ds.images`` order, the
    fit's wall seconds). Fitted once a run: the teacher and the ``cca`` painted word vectors share it.
    The encoder's trunk is released (the photos' features are computed)."""
    from ..network.cca_fit import CCAConfig, fit_encoder

    t0 = time.time()
    enc, feats = fit_encoder(ds, CCAConfig(image_size=image_size, dim=dim), progress)
    if enc.dim != dim:  # CCA keeps at most min(feature sizes) directions
        raise XmrError(f"the CCA teacher has {enc.dim} directions; the network's embedding has {dim}")
    enc._trunk = None  # free the trunk
    return enc, feats, time.time() - t0


def teacher_from(reference: tuple[Any, np.ndarray, float] | None, enc_cfg: EncodingConfig, t: TrainConfig,
                 config: dict[str, Any]) -> CCATeacher | None:
    """The CCA teacher (``teacher_weight``; docs/METHOD.md §3c) from ``fit_training_reference``'s result,
    recorded in the run's ``config``; None when off. The ``cca`` painted word vectors fitted from the
    same reference are recorded there too."""
    if reference is not None and enc_cfg.word_vectors == "cca":
        config["word_vectors"] = {"kind": f"the CCA reference's 300-d Word2Vec projected onto its {enc_cfg.vector_size} "
                                          "leading canonical directions (network/cca_fit.py, cca_word_vectors)",
                                  "image_size": t.teacher_image_size, "fit_seconds": round(reference[2], 1)}
    if not t.teacher_weight:
        return None
    teacher = CCATeacher.from_reference(*reference)
    config["teacher"] = {"kind": "CCA reference (network/cca_fit.py), fitted on the training split",
                         "image_size": t.teacher_image_size, "dim": teacher.dim,
                         "fit_seconds": round(teacher.seconds, 1)}
    return teacher
