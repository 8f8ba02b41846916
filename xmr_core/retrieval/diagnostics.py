"""Modality-gap diagnostics: how far apart do images and painted captions sit?

One network embeds both modalities (docs/METHOD.md §2); if images and encoded texts form two
separate clouds (the "modality gap", cf. the paper's Fig. 3 t-SNE with images red
and text blue), cross-modal nearest neighbours fail even when within-modality
structure is good. These numbers make the gap measurable.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["modality_gap"]


def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, n, out=np.zeros_like(x), where=n > 0)


def _mean_offdiag_cos(x: np.ndarray) -> float:
    """Mean cosine over distinct pairs, from the sum vector (O(n d), not O(n^2))."""
    n = x.shape[0]
    if n < 2:
        return float("nan")
    s = x.sum(0)
    return float((s @ s - (x * x).sum()) / (n * (n - 1)))


def modality_gap(
    img: np.ndarray,
    cap: np.ndarray,
    caption_image: np.ndarray,
    chunk: int = 2048,
) -> dict[str, Any]:
    """Modality-gap statistics of unit image ``(N_i, d)`` and caption ``(N_c, d)`` embeddings.

    Returns a dict (all distances Euclidean on the L2-normalised vectors):

    * ``centroid_distance`` - ``|mean(images) - mean(captions)|`` (the gap vector's length,
      Liang et al. 2022); ``image_centroid_norm``, ``text_centroid_norm`` (how concentrated
      each modality is: 1 = all identical, ~0 = spread over the sphere).
    * ``mean_cos_pair`` - mean cosine image <-> its own captions;
      ``mean_cos_cross`` - mean cosine over all image-caption pairs;
      ``mean_cos_image_image`` / ``mean_cos_text_text`` - within each modality (distinct pairs).
    * ``mean_dist_pair`` - mean distance caption -> its own image;
      ``mean_dist_nearest_other_image`` - mean distance caption -> nearest *other* image;
      ``mean_dist_nearest_other_caption`` - mean distance caption -> nearest caption of
      another image; ``pair_closer_than_other_image`` - fraction of captions nearer their
      own image than any other image (= text->image R@1 / 100);
      ``nearest_is_same_modality`` - fraction of captions whose nearest neighbour among
      all other items (images and captions) is a caption: near 1 means two clouds.
    * ``n_images``, ``n_captions``.
    """
    im = _unit(np.asarray(img, dtype=np.float32))
    tx = _unit(np.asarray(cap, dtype=np.float32))
    ci = np.asarray(caption_image, dtype=np.int64)
    if im.ndim != 2 or tx.ndim != 2 or im.shape[1] != tx.shape[1] or ci.shape != (tx.shape[0],):
        raise ValueError("need img (N_i, d), cap (N_c, d) and caption_image (N_c,)")
    n_i, n_c = im.shape[0], tx.shape[0]
    mi, mt = im.mean(0), tx.mean(0)
    out: dict[str, Any] = {
        "n_images": n_i, "n_captions": n_c,
        "centroid_distance": float(np.linalg.norm(mi - mt)),
        "image_centroid_norm": float(np.linalg.norm(mi)),
        "text_centroid_norm": float(np.linalg.norm(mt)),
        "mean_cos_pair": float(np.einsum("ij,ij->i", im[ci], tx).mean()) if n_c else float("nan"),
        "mean_cos_cross": float(mi @ mt),  # mean over all (image, caption) pairs
        "mean_cos_image_image": _mean_offdiag_cos(im),
        "mean_cos_text_text": _mean_offdiag_cos(tx),
    }
    if n_c == 0 or n_i == 0:
        return out
    pair_d = np.linalg.norm(tx - im[ci], axis=1)
    other_img, other_cap, nearest_cap_any = _nearest_cosines(im, tx, ci, chunk)
    # cosine -> Euclidean on unit vectors: d = sqrt(2 - 2 cos); -inf (no candidate) -> inf
    to_dist = lambda c: np.sqrt(np.maximum(2.0 - 2.0 * c, 0.0))  # noqa: E731
    d_other_img, d_other_cap, d_near_cap = to_dist(other_img), to_dist(other_cap), to_dist(nearest_cap_any)
    # the nearest image overall (own included) for the same-modality question
    d_near_img = np.minimum(pair_d, d_other_img)
    out.update(
        mean_dist_pair=float(pair_d.mean()),
        mean_dist_nearest_other_image=_finite_mean(d_other_img),
        mean_dist_nearest_other_caption=_finite_mean(d_other_cap),
        pair_closer_than_other_image=float((pair_d < d_other_img).mean()),
        nearest_is_same_modality=float((d_near_cap < d_near_img).mean()),
    )
    return out


def _nearest_cosines(im: np.ndarray, tx: np.ndarray, ci: np.ndarray,
                     chunk: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per caption, the best cosine to: another image; a caption of another image; any other caption
    (-inf where there is no candidate). In chunks of captions, so memory stays O(chunk x N)."""
    n_c = tx.shape[0]
    other_img = np.full(n_c, np.inf)
    other_cap = np.full(n_c, np.inf)
    nearest_cap_any = np.full(n_c, np.inf)  # nearest caption other than itself
    timg = torch.from_numpy(np.ascontiguousarray(im.T))
    ttx = torch.from_numpy(np.ascontiguousarray(tx.T))
    rows_all = np.arange(n_c)
    with torch.inference_mode():
        for s in range(0, n_c, chunk):
            q = torch.from_numpy(tx[s : s + chunk])
            r = rows_all[s : s + chunk]
            own = ci[r]
            # caption -> images: cos, own image masked out
            c_img = (q @ timg).numpy()
            c_img[np.arange(len(r)), own] = -np.inf
            other_img[r] = c_img.max(1)  # -inf when the own image is the only one
            # caption -> captions: mask itself; separately mask captions of the same image
            c_cap = (q @ ttx).numpy()
            c_cap[np.arange(len(r)), r] = -np.inf
            nearest_cap_any[r] = c_cap.max(1)
            c_cap[ci[None, :] == own[:, None]] = -np.inf
            other_cap[r] = c_cap.max(1)
    return other_img, other_cap, nearest_cap_any


def _finite_mean(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else float("nan")
