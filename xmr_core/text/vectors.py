"""Word vectors: train gensim Word2Vec on the training captions, save/load them safely.

Vectors are stored in the word2vec *binary* format (``save_word2vec_format``),
never with gensim's pickle-based ``.save``, so a run bundle holds no pickles.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
from gensim.models import KeyedVectors, Word2Vec

from ..config import EncodingConfig
from ..errors import XmrError
from ..files import atomic_path, check_regular
from .tokenize import tokenize


def train_word2vec(captions: Iterable[str], cfg: EncodingConfig, vector_size: int | None = None) -> KeyedVectors:
    """Train Word2Vec on captions (tokenised with the one tokeniser) with ``cfg``'s settings;
    ``vector_size`` overrides ``cfg.vector_size`` (the CCA reference uses 300-d vectors).

    One worker thread, so that a seed gives the same vectors every time.
    """
    sentences = [t for t in (tokenize(c) for c in captions) if t]
    if not sentences:
        raise XmrError("no words to train Word2Vec on: every caption is empty")
    model = Word2Vec(
        sentences=sentences, vector_size=vector_size or cfg.vector_size, window=cfg.w2v_window,
        min_count=cfg.w2v_min_count, sg=cfg.w2v_sg, epochs=cfg.w2v_epochs,
        seed=cfg.seed, workers=1,
    )
    return model.wv


def save_vectors(kv: KeyedVectors, path: str | Path) -> None:
    """Write vectors in word2vec binary format, atomically."""
    with atomic_path(Path(path)) as tmp:
        kv.save_word2vec_format(str(tmp), binary=True)


# Word2Vec / GloVe / fastText vectors are 50-1024-d; a vocabulary beyond a few million words is
# not a caption vocabulary. gensim allocates count x dim floats from the header before reading.
MAX_VECTOR_DIM = 3072
MAX_VECTOR_WORDS = 5_000_000
MAX_VECTOR_FILE_BYTES = 8 * 1024 ** 3


def _check_header(path: Path, binary: bool) -> None:
    """Refuse a vector file whose header asks for more than the file (or the limits) can hold."""
    size = path.stat().st_size
    if size > MAX_VECTOR_FILE_BYTES:
        raise XmrError(f"{path}: {size:,} bytes; the limit for a word-vector file is {MAX_VECTOR_FILE_BYTES:,}")
    with open(path, "rb") as f:
        first = f.readline(200).split()
    if len(first) != 2 or not all(x.isdigit() for x in first):
        if binary:
            raise XmrError(f"{path}: not a word2vec binary file (no '<count> <dimension>' header line)")
        return  # a text file without the header line: gensim reads it as it goes
    count, dim = int(first[0]), int(first[1])
    if not 1 <= dim <= MAX_VECTOR_DIM or count > MAX_VECTOR_WORDS:
        raise XmrError(f"{path}: header says {count:,} words of dimension {dim:,}; the limits are "
                       f"{MAX_VECTOR_WORDS:,} words and 1..{MAX_VECTOR_DIM} dimensions")
    per_word = dim * 4 if binary else dim * 2  # a text value takes at least 2 bytes ("0 ")
    if count * per_word > size:
        raise XmrError(f"{path}: header says {count:,} words of dimension {dim}, more than the "
                       f"{size:,}-byte file can hold (truncated or corrupt)")


def load_vectors(path: str | Path) -> KeyedVectors:
    """Load word vectors: word2vec binary (``.bin``) or text (``.txt``/``.vec``, header line optional)."""
    path = Path(path)
    check_regular(path, MAX_VECTOR_FILE_BYTES, what="word vectors")  # not /dev/zero, a FIFO, a folder
    binary = path.suffix.lower() not in (".txt", ".vec", ".w2v")
    _check_header(path, binary)
    try:
        kv = KeyedVectors.load_word2vec_format(str(path), binary=binary)
    except Exception as first:  # noqa: BLE001 - gensim raises many types for bad files
        try:  # a text file without the "<count> <dim>" header line
            if binary:
                raise first
            kv = KeyedVectors.load_word2vec_format(str(path), binary=False, no_header=True)
        except Exception:  # noqa: BLE001
            raise XmrError(
                f"{path}: not a word2vec {'binary' if binary else 'text'} file ({type(first).__name__}: {first})"
            ) from None
    if len(kv) == 0:
        raise XmrError(f"{path}: the vector file holds no words")
    if not 1 <= kv.vector_size <= MAX_VECTOR_DIM:
        raise XmrError(f"{path}: vectors of dimension {kv.vector_size}; 1..{MAX_VECTOR_DIM} are supported")
    if not np.isfinite(kv.vectors).all():
        raise XmrError(f"{path}: the vectors contain NaN or infinite values")
    return kv
