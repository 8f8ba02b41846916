"""Text side of xmr: tokeniser, word vectors, and the caption -> image encoder."""
from .tokenize import tokenize

__all__ = ["tokenize"]
