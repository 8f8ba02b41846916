"""Training samples: a class is one training image; it and all its encoded captions share its
label (docs/METHOD.md §3). Batches hold ``classes_per_batch`` classes, each with its image(s)
and captions. All data randomness is a function of (seed, epoch, position), so a resumed run
sees the same batches as an uninterrupted one."""
from __future__ import annotations

import random
from collections import Counter

import numpy as np
import torch

from ..config import ModelConfig, TrainConfig
from ..data import Dataset
from ..data.images import read_image
from ..network.inference import preprocess_images
from ..text.encoder import TextEncoder
from ..text.short_queries import Lexicon, PhraseIndex, content_phrases, short_query, swapped_caption
from ..text.tokenize import tokenize


def sample_rng(seed: int, epoch: int, k: int) -> random.Random:
    """Per-sample RNG from (seed, epoch, class): identical after a resume, on any worker."""
    return random.Random((seed * 1_000_003 + epoch) * 10_000_019 + k)


def choose_captions(caps: list, n: int, rng: random.Random) -> list:
    """``n`` of a class's captions: a random sample, or all of them repeated when there are fewer."""
    return rng.sample(caps, n) if len(caps) >= n else [caps[i % len(caps)] for i in range(n)]


def lexicon_of(ds: Dataset) -> Lexicon:
    """The dataset's synonyms as one word (``text.short_queries.Lexicon``): what its JSON lists, or the demo
    generator's own (``data.demo.dataset_lexicon``)."""
    from ..data.demo import dataset_lexicon

    return Lexicon(dataset_lexicon(ds.source))


def with_short_queries(chosen: list[str], share: float, rng: random.Random, keep_head: bool = False) -> list[str]:
    """Each chosen caption replaced, with probability ``share``, by a short query cut from it
    (``text/short_queries.py``; ``keep_head``: cut to noun phrases); no draw at all when ``share`` is 0,
    so other recipes' batches stay exactly what they were."""
    if share <= 0:
        return chosen
    return [short_query(c, rng, keep_head=keep_head) if rng.random() < share else c for c in chosen]


class ClassSamples(torch.utils.data.Dataset):
    """Item ``(epoch, class)`` -> that class's image(s) and encoded captions, preprocessed.

    Decoding and encoding happen here, i.e. in DataLoader workers; only the
    records are held, so memory does not grow with the dataset.
    """

    def __init__(self, ds: Dataset, encoder: TextEncoder, mcfg: ModelConfig, tcfg: TrainConfig):
        self.images = [im.path for im in ds.images]
        self.caps = [[c.text for c in ds.captions_of(im.image_id)] for im in ds.images]
        self.encoder, self.mcfg, self.tcfg = encoder, mcfg, tcfg
        self.phrase_index = None
        if tcfg.phrase_positives:
            self.phrase_index = PhraseIndex(self.caps, lexicon_of(ds) if tcfg.phrase_lexicon else None)
        self.texts_travel = (tcfg.phrase_positives or tcfg.short_query_losses != "all"
                             or tcfg.short_query_words != "class" or tcfg.teacher_weight > 0 or tcfg.swap_negatives > 0)
        self.words_index: dict[str, int] | None = None  # the words head's columns, for own-words targets

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, int]:
        epoch, k = key
        t, m = self.tcfg, self.mcfg
        rng = sample_rng(t.seed, epoch, k)
        img = read_image(self.images[k], max_side=max(2 * m.input_size, 256))
        # config-2 resizes to 256 and crops 227 (docs/METHOD.md §4); other crop sides keep that ratio
        side = round(t.crop * 256 / 227) if t.crop else m.input_size
        arr = np.asarray(img.resize((side, side)), dtype=np.uint8)
        views = [arr, arr[:, ::-1]][:t.images_per_class]  # config-2 adds the horizontally flipped copy
        if t.crop:
            views = [self._crop(v, t.crop, rng, text=False) for v in views]
        caps = self.caps[k]
        if t.crop:  # config-2: each caption at two random crops
            chosen = [caps[i % len(caps)] for i in range(t.captions_per_class // 2)]
            chosen = chosen + chosen
        else:
            full = choose_captions(caps, t.captions_per_class, rng)
            chosen = with_short_queries(full, t.short_queries, rng, t.short_query_heads)
            short = [c is not f for c, f in zip(chosen, full)]  # which became short queries
        enc = self.encoder.encode_batch(chosen)
        if t.crop:
            enc = np.stack([self._crop(e, t.crop, rng, text=True) for e in enc])
        size = t.crop or m.input_size
        x_img = preprocess_images(np.stack([np.ascontiguousarray(v) for v in views]), size, m.standardize)
        x_txt = preprocess_images(enc, t.crop or m.text_size, m.standardize)
        if not self.texts_travel:
            return x_img, x_txt, k
        # collate asks which pictures the texts describe, and which are short queries
        item = (x_img, x_txt, k, chosen, [False] * len(chosen) if t.crop else short)
        if t.swap_negatives > 0:  # one caption with two nouns swapped: a wrong answer (TrainConfig.swap_negatives)
            item += (self._swapped(caps, rng),)
        return item

    def _swapped(self, caps: list[str], rng: random.Random) -> torch.Tensor:
        """(0 or 1, 3, size, size): with probability ``swap_negatives``, one of the class's captions with the
        nouns of two phrases swapped (``text.short_queries.swapped_caption``), painted; the first caption that
        has two to swap, in a random order."""
        size = self.mcfg.text_size
        if rng.random() < self.tcfg.swap_negatives:
            for c in rng.sample(caps, len(caps)):
                neg = swapped_caption(c, rng)
                if neg is not None:
                    return preprocess_images(self.encoder.encode_batch([neg]), size, self.mcfg.standardize)
        return torch.zeros(0, 3, size, size)

    def _crop(self, a: np.ndarray, c: int, rng: random.Random, text: bool) -> np.ndarray:
        h, w = a.shape[:2]
        if h <= c and w <= c:
            return a
        # Text sits in the top-left corner: its crops may move by at most the margin,
        # so no word is ever cut off (docs/METHOD.md §1, config-2). Images crop anywhere.
        lim = self.encoder.cfg.margin if text else max(h, w)
        oy, ox = rng.randint(0, min(h - c, lim)), rng.randint(0, min(w - c, lim))
        return a[oy:oy + c, ox:ox + c]


def collate(items: list, phrase_index: PhraseIndex | None = None,
            words_index: dict[str, int] | None = None) -> tuple:
    """Classes -> one batch: images, their labels, encoded captions, their labels; and when the items
    carry their texts (``ClassSamples.texts_travel``) a dict: ``short``, (captions,) bool, which texts
    are short queries; ``relevance``, with a ``phrase_index`` (``TrainConfig.phrase_positives``), a
    (captions, images) bool matrix: which of the batch's pictures each text describes (else None), and
    ``binding``, beside it: the pictures whose captions hold each of the text's words, bound to other things;
    ``negatives``, when the items carry them (``TrainConfig.swap_negatives``), the painted swapped captions
    (negatives, 3, H, W), wrong answers of every picture, else None;
    ``words``, with a ``words_index`` (the words head's column of each word), a (captions, words)
    multi-hot of each text's own words (``TrainConfig.short_query_words = "own"``; else None); ``texts``,
    the texts themselves, in the batch's order (the teacher's targets, ``train/teacher.py``)."""
    imgs = torch.cat([it[0] for it in items])
    txts = torch.cat([it[1] for it in items])
    il = torch.cat([torch.full((it[0].shape[0],), it[2], dtype=torch.long) for it in items])
    tl = torch.cat([torch.full((it[1].shape[0],), it[2], dtype=torch.long) for it in items])
    if len(items[0]) < 5:
        return imgs, il, txts, tl
    info: dict = {"short": torch.tensor([s for it in items for s in it[4]], dtype=torch.bool), "relevance": None,
                  "binding": None, "words": None, "texts": [t for it in items for t in it[3]],
                  "negatives": torch.cat([it[5] for it in items]) if len(items[0]) > 5 else None}
    if words_index is not None:
        texts = [t for it in items for t in it[3]]
        info["words"] = torch.zeros(len(texts), len(words_index))
        for i, text in enumerate(texts):
            cols = [j for w in tokenize(text) if (j := words_index.get(w)) is not None]
            info["words"][i, cols] = 1.0
    if phrase_index is not None:
        texts = [(t, it[2]) for it in items for t in it[3]]
        classes = il.tolist()
        found = [phrase_index.matches(t, classes) for t, _ in texts]
        info["relevance"] = torch.tensor([[k == c or d for c, (d, _) in zip(classes, row)]
                                          for (_, k), row in zip(texts, found)])
        # every word of the text in the picture's captions, bound to other things: "a red circle" and a
        # picture of a red square and a blue circle (TrainConfig.binding_negatives)
        info["binding"] = torch.tensor([[k != c and w and not d for c, (d, w) in zip(classes, row)]
                                        for (_, k), row in zip(texts, found)])
    return imgs, il, txts, tl, info


def epoch_batches(n_classes: int, per_batch: int, seed: int, epoch: int, features: np.ndarray | None = None,
                  hard: float = 0.0, groups: np.ndarray | None = None) -> list[list[int]]:
    """The epoch's class order, cut into batches (drop the ragged tail).

    With ``hard`` > 0 and ``features`` (unit rows, one a class: :func:`class_features`), each batch
    is a random anchor class, the ``hard`` share of the batch nearest to it among the classes not
    yet used this epoch, and random others: hard negatives (classes described alike, e.g. the same
    colours in other shapes) that in-batch InfoNCE must tell apart. With ``groups`` (one group id a
    class: :func:`twin_groups`), the classes of a group always share a batch (a demo scene and its
    counterfactual twins). Deterministic for (seed, epoch).
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(n_classes)
    n = n_classes // per_batch
    if groups is not None:
        return _grouped_batches(order, per_batch, n, rng, groups, features if hard > 0 else None, hard)
    if hard <= 0 or features is None:
        return [order[i * per_batch:(i + 1) * per_batch].tolist() for i in range(n)]
    n_near = min(per_batch - 1, int(round(hard * per_batch)))
    free = np.ones(n_classes, bool)
    out = []
    for anchor in order:
        if len(out) == n:
            break
        if not free[anchor]:
            continue
        free[anchor] = False
        sim = np.where(free, features @ features[anchor], -np.inf)
        near = np.argsort(-sim, kind="stable")[:n_near]
        free[near] = False
        rest = rng.permutation(np.flatnonzero(free))[:per_batch - 1 - n_near]
        free[rest] = False
        out.append([int(anchor), *near.tolist(), *rest.tolist()])
    return [b for b in out if len(b) == per_batch]


def _grouped_batches(order: np.ndarray, per_batch: int, n: int, rng: np.random.Generator, groups: np.ndarray,
                     features: np.ndarray | None, hard: float) -> list[list[int]]:
    """:func:`epoch_batches` with groups: whenever a class joins a batch, the free classes of its group
    join with it (a group that no longer fits waits for another batch)."""
    members: dict[int, list[int]] = {}
    for k, g in enumerate(groups.tolist()):
        members.setdefault(g, []).append(k)
    free = np.ones(len(groups), bool)
    n_near = min(per_batch - 1, int(round(hard * per_batch))) if features is not None else 0

    def add(batch: list[int], k: int, limit: int) -> None:
        unit = [c for c in members[int(groups[k])] if free[c]]
        if unit and len(batch) + len(unit) <= limit:
            batch.extend(unit)
            free[unit] = False

    out: list[list[int]] = []
    for anchor in order:
        if len(out) == n:
            break
        if not free[anchor]:
            continue
        batch: list[int] = []
        add(batch, int(anchor), per_batch)
        if n_near:
            sim = np.where(free, features @ features[anchor], -np.inf)
            for c in np.argsort(-sim, kind="stable")[:4 * per_batch]:
                if len(batch) >= 1 + n_near:
                    break
                add(batch, int(c), 1 + n_near)
        for c in rng.permutation(np.flatnonzero(free)):
            if len(batch) >= per_batch:
                break
            add(batch, int(c), per_batch)
        out.append(batch)
    return [b for b in out if len(b) == per_batch]


def twin_groups(ds: Dataset) -> np.ndarray | None:
    """One group id a class: a generated demo scene and its counterfactual twins (``scene.twin_of``,
    data/demo.py) share their original's index, every other class is its own group; None when the
    dataset has no twins (it is not demo data, or was generated without them)."""
    from ..data.demo import dataset_scenes

    scenes = dataset_scenes(ds.source)
    row = {im.image_id: i for i, im in enumerate(ds.images)}
    groups = np.arange(len(ds.images))
    for i, im in enumerate(ds.images):
        of = (scenes.get(im.image_id) or {}).get("twin_of")
        if of in row:
            groups[i] = row[of]
    return groups if (groups != np.arange(len(ds.images))).any() else None


def class_features(ds: Dataset, encoder: TextEncoder) -> np.ndarray:
    """One unit vector a class: the mean Word2Vec vector of its captions' words (for hard batches)."""
    kv, dim = encoder.kv, encoder.kv.vector_size
    out = np.zeros((len(ds.images), dim), np.float32)
    for i, im in enumerate(ds.images):
        words = [w for c in ds.captions_of(im.image_id) for w in tokenize(c.text) if w in kv.key_to_index]
        if words:
            out[i] = np.mean([kv[w] for w in words], axis=0)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


class BatchList(torch.utils.data.Sampler):
    """A fixed list of batches of ``(epoch, class)`` keys, as a DataLoader batch sampler."""

    def __init__(self, batches: list[list[tuple[int, int]]]):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def word_targets(ds: Dataset, n_words: int, max_df: float = 0.10, phrases: bool = False, singles: bool = True,
                 lexicon: Lexicon | None = None) -> tuple[list[str], torch.Tensor]:
    """Content-word vocabulary and a (classes, words) multi-hot of each class's caption words.

    Words in more than ``max_df`` of captions (10 %: a, the, on, ...) carry no content and are left
    out. On the demo 10 % also leaves out every shape name and most colour names (a shape is named
    in 12-27 % of its captions), so the demo trials raise it (DEMO.md "Typed queries").

    ``phrases`` adds each pair of adjacent content words (the caption's words left after the common ones,
    those over ``max_df``, are dropped: "a red circle on the left" -> "red circle", "circle left") as a
    target after the single words, under the same limits: single words say *what* is in a picture but
    not which colour goes with which shape; a pair does, so "a red circle" and a picture with a red
    circle share a target. ``singles=False`` (with ``phrases``) keeps only the pairs.

    ``lexicon`` (``TrainConfig.words_lexicon``): captions read with synonyms as one word first, and the
    pairs taken within each phrase's content words (``text.short_queries.content_phrases``): "a tiny
    scarlet round shape on the left" -> small, red, circle, left; red circle, small red, circle left.
    """
    if lexicon:
        seqs = [tokenize(lexicon.canonical(c.text)) for c in ds.captions]
    else:
        seqs = [tokenize(c.text) for c in ds.captions]
    toks = [set(t) for t in seqs]
    df = Counter(w for t in toks for w in t)
    limit = max_df * max(1, len(toks))
    # where pairs are taken: the whole caption, or (lexicon) each phrase's content words, no pair across two
    segments = ([list(content_phrases(c.text, lexicon)) for c in ds.captions] if lexicon else [[q] for q in seqs])
    # sorted by (-count, word): set/Counter order depends on the per-process hash seed,
    # and the head's columns must mean the same words in a resumed process
    ranked = sorted(df.items(), key=lambda wn: (-wn[1], wn[0]))
    vocab = [w for w, n in ranked if 2 <= n <= limit][:n_words] if singles or not phrases else []
    if phrases:  # pairs of adjacent content words: "a red circle on the left" -> red circle, circle left
        for segs, s in zip(segments, toks):
            for q in segs:
                q = [w for w in q if df[w] <= limit]
                s.update(f"{a} {b}" for a, b in zip(q, q[1:]))
        pairs = Counter(p for t in toks for p in t if " " in p)
        vocab += [p for p, n in sorted(pairs.items(), key=lambda wn: (-wn[1], wn[0]))
                  if 2 <= n <= limit][:max(0, n_words - len(vocab))]
    index = {w: i for i, w in enumerate(vocab)}
    y = torch.zeros(len(ds.images), len(vocab))
    row = {im.image_id: i for i, im in enumerate(ds.images)}
    for c, t in zip(ds.captions, toks):
        r = row[c.image_id]
        for w in t:
            j = index.get(w)
            if j is not None:
                y[r, j] = 1.0
    return vocab, y
