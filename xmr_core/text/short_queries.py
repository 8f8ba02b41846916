"""Short queries made from training captions: what a person types, learned in the data pipeline.

A caption such as "there is a small red circle on the left and a blue star at the top" teaches
the network long sentences; a person types "a red circle". :func:`short_query` turns a caption
into such a query (docs/METHOD.md §5b), deterministically for a ``random.Random``:

1. cut the caption into its phrases, one a thing (at commas, colons, "and", "plus", "next to",
   "with") and start each at its first article, or after a leading "... of" ("there is a red
   circle" and "a picture of a red circle" -> "a red circle");
2. keep one phrase, or two joined by "and" in either order (two-thing queries);
3. cut each kept phrase after a random number of its words (at least 3: "a red circle on the
   left" -> "a red circle"), never ending on a function word ("a red circle on the" -> "a red
   circle"), and drop other words with a small probability (word dropout).

Only the caption's own words are used, in their own order within a phrase, so the query stays
true to the image. Nothing here is demo-specific: on real captions it gives "a dog" or
"a man in a red shirt" from "a man in a red shirt is climbing a rock".
"""
from __future__ import annotations

import random
import re

__all__ = ["phrases", "short_query", "swapped_caption", "content_phrases", "PhraseIndex", "Lexicon"]

_SPLIT = re.compile(r"\s*(?:[,:;]|\band\b|\bplus\b|\bnext to\b|\bwith\b)\s*")
_ARTICLES = {"a", "an", "the", "one", "two", "three"}
# Words a typed query does not end on: a cut phrase loses them from its end.
_TRAILING = {"a", "an", "the", "of", "in", "on", "at", "to", "and", "by", "near", "against", "with", "is",
             "are", "from", "into", "its", "their", "his", "her"}


def phrases(caption: str) -> list[str]:
    """The caption's phrases (see the module docstring), each from its first article on; at least
    2 words each. ``[]`` when no phrase has 2 words."""
    out = []
    for part in _SPLIT.split(caption.lower()):
        words = part.split()
        start = next((i + 1 for i, w in enumerate(words[:4]) if w == "of"), 0)  # "a picture of ..."
        start += next((i for i, w in enumerate(words[start:start + 6]) if w in _ARTICLES), 0)
        words = words[start:]
        if len(words) >= 2:
            out.append(" ".join(words))
    return out


def _shorten(phrase: str, rng: random.Random, dropout: float) -> str:
    words = phrase.split()
    words = words[:rng.randint(min(3, len(words)), len(words))]
    kept = [w for i, w in enumerate(words) if i == 0 or rng.random() >= dropout]
    kept = kept if len(kept) >= 2 else words[:2]
    while len(kept) > 2 and kept[-1] in _TRAILING:
        kept.pop()
    return " ".join(kept)


# A phrase's noun ends before its first preposition or verb (an auxiliary, a common verb in -s, a word in
# -ing): "a small red circle on the left" -> "a small red circle", "a black dog running on grass" ->
# "a black dog". The same rule cuts the subject of a caption in retrieval/typed_queries.caption_phrases.
AUX_VERBS = frozenset({"is", "are", "was", "were", "be", "being", "been", "has", "have", "sits", "stands", "runs",
                       "jumps", "plays", "walks", "rides", "looks", "holds", "swims", "climbs", "wears", "waits",
                       "lies", "lays", "catches", "carries", "throws", "watches", "poses", "smiles", "eats",
                       "drinks", "sleeps", "reads", "performs", "skis", "surfs", "skates", "leaps", "races",
                       "chases", "pulls", "pushes", "kicks", "does"})
PREPOSITIONS = frozenset({"on", "in", "at", "through", "near", "by", "under", "over", "along", "across", "into",
                          "beside", "behind", "outside", "inside"})
# Where a noun phrase ends besides PREPOSITIONS (which also start caption_phrases' place phrases).
_NOUN_END = PREPOSITIONS | {"to", "of", "from", "against", "with", "below", "above", "up", "down"}
HEAD_MODIFIER_DROP = 0.5  # keep_head: each word between the article and the noun is dropped with this probability
HEAD_TAIL_KEEP = 0.3      # keep_head: the phrase's rest ("on the left") is kept with this probability


def is_verb(word: str) -> bool:
    """An auxiliary, a common verb in -s, or a word in -ing (no tagger: a rule)."""
    return word in AUX_VERBS or (word.endswith("ing") and len(word) > 4)


def noun_end(words: list[str]) -> int:
    """How many of a phrase's ``words`` make its noun phrase: up to its first preposition or verb after
    the first word ("a small red circle on the left" -> 4); all of them when it has neither."""
    return next((i for i, w in enumerate(words) if i > 0 and (w in _NOUN_END or is_verb(w))), len(words))


def _shorten_to_head(phrase: str, rng: random.Random) -> str:
    """The phrase's noun phrase with each modifier dropped with probability HEAD_MODIFIER_DROP (never the
    first word nor the noun, its last word), and its rest kept whole with probability HEAD_TAIL_KEEP:
    "a small cherry red circle on the left" -> "a red circle", "a small circle on the left", ..."""
    words = phrase.split()
    end = noun_end(words)
    core = [w for i, w in enumerate(words[:end]) if i in (0, end - 1) or rng.random() >= HEAD_MODIFIER_DROP]
    tail = words[end:] if rng.random() < HEAD_TAIL_KEEP else []
    while tail and tail[-1] in _TRAILING:
        tail.pop()
    out = core + tail
    return " ".join(out if len(out) >= 2 else words[:2])


def short_query(caption: str, rng: random.Random, two_things: float = 0.3, dropout: float = 0.1,
                keep_head: bool = False) -> str:
    """A short query a person might type for the caption's image (see the module docstring).

    ``two_things``: probability of joining two phrases; ``dropout``: per-word drop probability
    (never the phrase's first word). ``keep_head``: each phrase is cut to its noun phrase and loses
    modifiers instead (:func:`_shorten_to_head`: "a red circle", never "a huge red"). The caption
    itself when it has no phrase of 2 words."""
    ps = phrases(caption)
    if not ps:
        return caption

    def cut(p: str) -> str:
        return _shorten_to_head(p, rng) if keep_head else _shorten(p, rng, dropout)

    if len(ps) >= 2 and rng.random() < two_things:
        a, b = rng.sample(ps, 2)
        return f"{cut(a)} and {cut(b)}"
    return cut(rng.choice(ps))


def swapped_caption(caption: str, rng: random.Random) -> str | None:
    """The caption with the nouns of two of its phrases swapped, a text that names the same words bound to
    other things: "a small red circle on the left and a blue star" -> "a small red star on the left and a
    blue circle" (a hard negative of the caption's picture, ``TrainConfig.swap_negatives``; after NegCLIP's
    swapped captions, Yuksekgonul et al. 2023). Each phrase's noun is the last word of its noun phrase
    (:func:`noun_end`), of phrases that start with "a", "an" or "the" (one thing). Lower-cased; None when no two
    such phrases have different nouns. Nothing demo-specific:
    "a man in a red shirt and a dog" -> "a dog in a red shirt and a man"."""
    text = caption.lower()
    spans, at = [], 0
    for p in phrases(text):
        i = text.find(p, at)
        if i < 0:
            continue
        words = p.split()
        end = noun_end(words)
        if words[0] in ("a", "an", "the") and end >= 2:  # one thing ("two shapes" is not swapped)
            spans.append((i, p, words, end - 1, words[end - 1]))  # (offset, phrase, its words, noun at, noun)
        at = i + len(p)
    pairs = [(a, b) for a in range(len(spans)) for b in range(a + 1, len(spans)) if spans[a][4] != spans[b][4]]
    if not pairs:
        return None
    a, b = rng.choice(pairs)
    out = text
    for k, noun in ((b, spans[a][4]), (a, spans[b][4])):  # the later span first: the earlier one's offset stays
        i, p, words, j, _ = spans[k]
        new = " ".join(words[:j] + [noun] + words[j + 1:])
        out = out[:i] + new + out[i + len(p):]
    return out


# ---- which images a text describes, from the words of their captions (phrase positives) ------------
# Words that carry no content of their own: a phrase is matched on the others ("a red circle on the
# left" -> red circle left).
_FUNCTION = _ARTICLES | _TRAILING | {"there", "this", "that", "which", "who", "some", "very", "while", "as",
                                     "for", "up", "down", "out", "over", "under", "it", "be", "being"}


class Lexicon:
    """A dataset's synonyms as one word each: ``{"crimson": "red", "round shape": "circle", ...}`` (a dataset
    JSON's ``lexicon``, :func:`xmr_core.data.demo.dataset_lexicon`; the demo's generator writes its own).

    :meth:`canonical` rewrites a text with every listed word or phrase replaced by its canonical word,
    longest first, so "a scarlet round shape" and "a red disc" both read "a red circle". Without a lexicon
    a phrase's words must appear literally: a short query "a crimson dot" then counts every other picture
    of a red circle, captioned "red circle" or "scarlet disc", among its wrong answers (DEMO.md "Typed
    queries", round six)."""

    def __init__(self, table: dict[str, str]):
        self.table = {" ".join(k.lower().split()): " ".join(v.lower().split()) for k, v in table.items()
                      if isinstance(k, str) and isinstance(v, str) and k.strip()}
        keys = sorted(self.table, key=lambda k: (-len(k.split()), -len(k), k))
        self._re = re.compile(r"\b(?:" + "|".join(re.escape(k) for k in keys) + r")\b") if keys else None

    def __bool__(self) -> bool:
        return bool(self.table)

    def canonical(self, text: str) -> str:
        """``text`` lower-cased, its words single-spaced, each lexicon entry replaced by its canonical form."""
        text = " ".join(text.lower().split())
        return self._re.sub(lambda m: self.table[m.group(0)], text) if self._re else text


def _last_of_each(words: tuple[str, ...]) -> tuple[str, ...]:
    """Each word at its last place only: "a round red circle" read through a lexicon is "circle red circle",
    and matches "red circle" (a descriptive word beside the word it stands for says nothing more)."""
    return tuple(w for i, w in enumerate(words) if w not in words[i + 1:])


def content_phrases(text: str, lexicon: Lexicon | None = None) -> list[tuple[str, ...]]:
    """The text's phrases (:func:`phrases`; the whole text when it has none), each as its content words
    in order; phrases left with no content word are dropped. With a ``lexicon``, synonyms are read as
    their canonical word first (:class:`Lexicon`) and a repeated word counts at its last place."""
    if lexicon:
        text = lexicon.canonical(text)
    out = []
    for p in phrases(text) or [text.lower()]:
        words = tuple(w for w in re.findall(r"[a-z0-9']+", p) if w not in _FUNCTION)
        if lexicon:
            words = _last_of_each(words)
        if words:
            out.append(words)
    return out


def _in_order(q: tuple[str, ...], p: tuple[str, ...]) -> bool:
    it = iter(p)
    return all(w in it for w in q)  # each of q's words found after the one before: q is a subsequence of p


class PhraseIndex:
    """Each class's caption phrases, to ask which classes a text describes (``TrainConfig.phrase_positives``).

    A text describes a class when *each* of its phrases is found, its content words in their order,
    within one phrase of one of the class's captions: "a red circle" describes a picture captioned
    "a small red circle on the left and a blue star", not one captioned "a red star and a blue
    circle" (the words are there, bound to other things). A short query is cut from its own
    caption's phrases (:func:`short_query`), so it always describes its own class. The rule only
    reads captions, so it is the same on the demo and on real data ("a dog" describes every picture
    whose caption has a phrase with "dog" in it). With a ``lexicon`` (:class:`Lexicon`), captions and
    texts are read with synonyms as one word: "a crimson dot" describes a picture captioned "a red circle".
    """

    def __init__(self, captions: list[list[str]], lexicon: Lexicon | None = None):
        self.lexicon = lexicon if lexicon else None  # synonyms read as one word (TrainConfig.phrase_lexicon)
        self.phrases = [sorted({p for c in caps for p in content_phrases(c, self.lexicon)}) for caps in captions]
        self.words = [frozenset(w for p in ps for w in p) for ps in self.phrases]

    def describes(self, text: str, k: int) -> bool:
        """Whether ``text`` describes class ``k`` (see the class docstring)."""
        return self.described(text, [k])[0]

    def described(self, text: str, classes: list[int]) -> list[bool]:
        """:meth:`describes` for each of ``classes``, the text's phrases parsed once."""
        return [d for d, _ in self.matches(text, classes)]

    def matches(self, text: str, classes: list[int]) -> list[tuple[bool, bool]]:
        """For each of ``classes``: (whether ``text`` describes it, whether its captions hold every content
        word of ``text`` at all). Words present but not described: the words are bound to other things
        ("a red circle" and a picture of a red square and a blue circle), ``TrainConfig.binding_negatives``."""
        qs = content_phrases(text, self.lexicon)
        out = []
        for k in classes:
            present = bool(qs) and all(w in self.words[k] for q in qs for w in q)  # cheap screen first
            out.append((present and all(any(_in_order(q, p) for p in self.phrases[k]) for q in qs), present))
        return out
