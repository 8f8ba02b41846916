"""The one tokeniser of xmr (docs/METHOD.md §1: lower-case, punctuation stripped).

Unicode-aware: accented words stay whole ("café"), CJK characters become one
token each (there are no spaces to split on), emoji and other symbols are
dropped like punctuation. Apostrophes inside words are removed ("man's" ->
"mans") so that possessives do not split into a stray "s".
"""
from __future__ import annotations

import re
import unicodedata

# A CJK ideograph / kana / hangul syllable is a token by itself.
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+", re.UNICODE)
_APOSTROPHES = re.compile(r"(?<=\w)['\u2019](?=\w)")


def tokenize(text: str) -> list[str]:
    """Split a caption into lower-case word tokens."""
    if not isinstance(text, str):
        raise TypeError(f"tokenize expects a string, got {type(text).__name__}")
    text = unicodedata.normalize("NFKC", text).lower()
    text = _APOSTROPHES.sub("", text)
    return _TOKEN.findall(text)
