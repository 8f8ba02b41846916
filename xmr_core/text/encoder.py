"""Caption -> encoded-text image (docs/METHOD.md §1, the paper's "semantic text encoding").

Each word's vector is read three values at a time as the R,G,B of one
superpixel; a word is a ``block_w x block_h`` block of superpixels; blocks are
painted left to right, top to bottom on a white square canvas. Colours come
from a per-dimension min-max scaling fitted once on the vocabulary and stored
with the run, so a word has the same colour in every sentence.

Encoding is vectorised: every word's block is pre-rendered at pixel size once,
and a batch of captions is painted with one array assignment per word slot.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import EncodingConfig, from_dict, to_dict
from ..errors import EncodingError, XmrError
from ..files import read_json, write_text_atomic
from ..values import ConfigValueError
from .tokenize import tokenize

# The pre-rendered word blocks live in memory for the run's life: refuse a vocabulary x block
# size that would take more than this (a hostile encoder.json could ask for many GB).
MAX_BLOCK_BYTES = 1024 ** 3
# A query or caption longer than this is not a sentence (the canvas holds a few dozen words).
MAX_SENTENCE_CHARS = 10_000


@dataclass
class PlacedWord:
    """One word painted on the canvas: its block's pixel box."""

    word: str
    index: int  # position of the word among the sentence's tokens
    x: int
    y: int
    w: int
    h: int


@dataclass
class Layout:
    """Where each word of a sentence went (for the app's encoded-text page and the CLI)."""

    tokens: list[str]
    placed: list[PlacedWord] = field(default_factory=list)
    oov: list[str] = field(default_factory=list)       # skipped: not in the vocabulary
    dropped: list[str] = field(default_factory=list)   # skipped: no room left on the canvas

    def to_dict(self) -> dict:
        return {"tokens": self.tokens, "placed": [p.__dict__ for p in self.placed],
                "oov": self.oov, "dropped": self.dropped}


class TextEncoder:
    """Paints captions as images with fixed word vectors and a fixed colour scaling."""

    def __init__(self, kv, cfg: EncodingConfig | None = None,
                 lo: np.ndarray | None = None, hi: np.ndarray | None = None) -> None:
        dim = int(kv.vector_size)
        if cfg is None:
            bw, bh = EncodingConfig.block_shape_for(dim)
            cfg = EncodingConfig(block_w=bw, block_h=bh, vector_size=3 * bw * bh)
        n_sp = cfg.block_w * cfg.block_h
        if 3 * n_sp < dim:
            raise XmrError(f"vectors have {dim} dimensions; a {cfg.block_w}x{cfg.block_h} block holds {3 * n_sp}")
        self.kv = kv
        self.cfg = cfg
        vecs = np.asarray(kv.vectors, dtype=np.float32)
        # Per-dimension scaling fitted once on the vocabulary: min-max (docs/METHOD.md §1), or
        # mean +- k std (cfg.colour_range), which spreads the common words over the range.
        if lo is None or hi is None:
            k = cfg.colour_range
            if k > 0:
                mu, sd = vecs.mean(0), vecs.std(0)
                lo, hi = mu - k * sd, mu + k * sd
            else:
                lo, hi = vecs.min(0), vecs.max(0)
        self.lo = np.asarray(lo, dtype=np.float32)
        self.hi = np.asarray(hi, dtype=np.float32)
        if self.lo.shape != (dim,) or self.hi.shape != (dim,):
            raise XmrError(f"colour scaling has shape {self.lo.shape}, vectors have {dim} dimensions")
        bw, bh = cfg.block_px
        need = len(vecs) * bw * bh * 3
        if need > MAX_BLOCK_BYTES:
            raise XmrError(f"{len(vecs):,} words at {bw}x{bh} px blocks need {need / 1e6:,.0f} MB of colour "
                           f"blocks; the limit is {MAX_BLOCK_BYTES / 1e6:,.0f} MB (smaller blocks or vocabulary)")
        self.word_index = {w: i for i, w in enumerate(kv.index_to_key)}
        self.blocks = self._render_blocks(vecs)  # (V, bh_px, bw_px, 3) uint8
        self._slots = self._slot_origins()       # (capacity, 2) y, x

    # ---- set-up --------------------------------------------------------------
    def colours(self, vecs: np.ndarray) -> np.ndarray:
        """Vectors (n, dim) -> superpixel colours (n, block_h, block_w, 3) uint8."""
        span = np.where(self.hi > self.lo, self.hi - self.lo, 1.0)
        v = np.clip((vecs - self.lo) / span, 0.0, 1.0) * 255.0
        n_sp = self.cfg.block_w * self.cfg.block_h
        pad = np.full((len(v), 3 * n_sp - v.shape[1]), 255.0, np.float32)  # unused channels: white
        v = np.concatenate([v, pad], axis=1).round().astype(np.uint8)
        return v.reshape(len(v), self.cfg.block_h, self.cfg.block_w, 3)

    def _render_blocks(self, vecs: np.ndarray) -> np.ndarray:
        s = self.cfg.superpixel
        sp = self.colours(vecs)
        return np.repeat(np.repeat(sp, s, axis=1), s, axis=2)

    def _slot_origins(self) -> np.ndarray:
        c = self.cfg
        bw, bh = c.block_px
        out = [(c.margin + r * (bh + c.gap), c.margin + k * (bw + c.gap))
               for r in range(c.rows) for k in range(c.words_per_row)]
        return np.asarray(out, dtype=np.int64).reshape(-1, 2)

    # ---- encoding --------------------------------------------------------------
    def layout(self, sentence: str) -> tuple[Layout, list[int]]:
        """Tokenise and decide which word goes to which slot (no painting)."""
        if not isinstance(sentence, str):
            raise EncodingError(f"the sentence must be text, not {type(sentence).__name__}")
        bad = next((c for c in sentence if "\ud800" <= c <= "\udfff"), None)
        if bad is not None:  # a lone surrogate (broken UTF-16 / undecodable bytes): not text
            raise EncodingError(f"the sentence holds a character that is not valid text (U+{ord(bad):04X}, a lone "
                                "surrogate); retype it")
        if len(sentence) > MAX_SENTENCE_CHARS:
            raise EncodingError(f"the sentence is {len(sentence):,} characters long; the limit is "
                                f"{MAX_SENTENCE_CHARS:,}")
        tokens = tokenize(sentence)
        lay = Layout(tokens)
        ids: list[int] = []
        cap = len(self._slots)
        bw, bh = self.cfg.block_px
        for i, t in enumerate(tokens):
            j = self.word_index.get(t)
            if j is None:
                lay.oov.append(t)
            elif len(ids) >= cap:
                lay.dropped.append(t)
            else:
                y, x = self._slots[len(ids)]
                lay.placed.append(PlacedWord(t, i, int(x), int(y), bw, bh))
                ids.append(j)
        return lay, ids

    def encode(self, sentence: str, strict: bool = False) -> tuple[np.ndarray, Layout]:
        """One caption -> (H, W, 3) uint8 image and its layout record.

        ``strict`` raises ``EncodingError`` for an empty sentence or one with no
        word in the vocabulary (the app's query box); otherwise such a caption
        encodes as a blank canvas.
        """
        lay, ids = self.layout(sentence)
        if strict:
            if not lay.tokens:
                raise EncodingError("the sentence is empty: type a few words")
            if not ids:
                raise EncodingError(
                    f"none of the words {lay.tokens[:10]} is in this run's vocabulary "
                    f"({len(self.word_index):,} words); try words used in the captions"
                )
        return self._paint([ids])[0], lay

    def encode_batch(self, sentences: list[str]) -> np.ndarray:
        """Many captions -> (N, H, W, 3) uint8 (vectorised)."""
        get, cap = self.word_index.get, len(self._slots)
        ids = []
        for s in sentences:  # the fast path of `layout`: ids only, no record
            found = [j for j in map(get, tokenize(s)) if j is not None]
            ids.append(found[:cap])
        return self._paint(ids)

    def _paint(self, ids: list[list[int]]) -> np.ndarray:
        c = self.cfg
        out = np.full((len(ids), c.canvas, c.canvas, 3), 255, dtype=np.uint8)
        if not ids:
            return out
        bh_px, bw_px = self.blocks.shape[1:3]
        if len(ids) == 1:  # one caption (a typed query): plain slices, 2.5x faster than the table below
            for slot, j in enumerate(ids[0]):
                y, x = self._slots[slot]
                out[0, y:y + bh_px, x:x + bw_px] = self.blocks[j]
            return out
        # A (caption x slot) table of word ids (-1 = empty); then one vectorised
        # slice assignment per slot that is used: far faster than per-pixel fancy
        # indexing, and at most `capacity` iterations.
        longest = max(len(x) for x in ids)
        table = np.full((len(ids), max(longest, 1)), -1, dtype=np.int64)
        for n, x in enumerate(ids):
            table[n, :len(x)] = x
        for slot in range(longest):
            rows = np.nonzero(table[:, slot] >= 0)[0]
            y, x = self._slots[slot]
            out[rows, y:y + bh_px, x:x + bw_px] = self.blocks[table[rows, slot]]
        return out

    # ---- persistence ---------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        """Write ``vectors.bin`` and ``encoder.json`` (config + colour scaling) into ``folder``."""
        from .vectors import save_vectors

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_vectors(self.kv, folder / "vectors.bin")
        meta = {"encoding": to_dict(self.cfg), "lo": self.lo.tolist(), "hi": self.hi.tolist()}
        write_text_atomic(folder / "encoder.json", json.dumps(meta))

    @classmethod
    def load(cls, folder: str | Path) -> "TextEncoder":
        from .vectors import load_vectors

        folder = Path(folder)
        meta_path = folder / "encoder.json"
        if not meta_path.is_file():
            raise XmrError(f"{meta_path}: missing (the run's text-encoder settings)")
        meta = read_json(meta_path, XmrError, what="the run's text-encoder settings")
        try:
            cfg = from_dict(EncodingConfig, meta["encoding"])
        except ConfigValueError as e:
            raise XmrError(f"{meta_path}: {e.describe('encoding.' + str(e.field))}") from None
        except (KeyError, TypeError, ValueError) as e:
            raise XmrError(f"{meta_path}: unreadable ({type(e).__name__}: {e})") from None
        kv = load_vectors(folder / "vectors.bin")
        lo, hi = (_scaling(meta, k, kv.vector_size, meta_path) for k in ("lo", "hi"))
        return cls(kv, cfg, lo, hi)

    @classmethod
    def fit(cls, captions: list[str], cfg: EncodingConfig) -> "TextEncoder":
        """Train Word2Vec on ``captions`` and fit the colour scaling."""
        from .vectors import train_word2vec

        if cfg.word_vectors != "word2vec":  # the cca vectors are fitted against photos (train/loop.py)
            raise XmrError(f"word_vectors={cfg.word_vectors!r} is fitted in training, from the photos as well as "
                           "the captions; a text encoder fitted from captions alone paints Word2Vec vectors")

        return cls(train_word2vec(captions, cfg), cfg)


def _scaling(meta: dict, key: str, dim: int, where: Path) -> np.ndarray:
    """``encoder.json``'s colour scaling ``lo`` / ``hi``: ``dim`` finite numbers, checked before use."""
    v = meta.get(key)
    if not isinstance(v, list) or len(v) != dim or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        raise XmrError(f"{where}: '{key}' must be a list of {dim} numbers, one per dimension of "
                       "vectors.bin")
    a = np.asarray(v, np.float32)
    if not np.isfinite(a).all():
        raise XmrError(f"{where}: '{key}' holds NaN or infinite values")
    return a
