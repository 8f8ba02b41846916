"""Typed queries (issue 25): the benchmark on a tiny gallery whose answer is known, the phrase
rules, and the short-query augmentation of the training pipeline (deterministic for a seed)."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from xmr_core.retrieval.typed_queries import (caption_phrases, demo_queries, phrase_queries, score_queries,
                                              typed_table)
from xmr_core.text.short_queries import phrases, short_query


def _thing(colour, shape, size="small", position="left"):
    return {"colour": colour, "shape": shape, "size": size, "position": position}


# A gallery of 12 images whose scenes we write by hand: the relevant sets are known.
SCENES = [{"background": "white", "things": t} for t in (
    [_thing("red", "circle")], [_thing("red", "circle", "large", "top")], [_thing("red", "diamond")],
    [_thing("blue", "square")], [_thing("red", "circle"), _thing("blue", "square", position="right")],
    [_thing("green", "star")], [_thing("green", "star", "large")], [_thing("black", "hexagon")],
    [_thing("blue", "circle")], [_thing("yellow", "triangle")], [_thing("red", "square")], [_thing("pink", "star")],
)] + [None]  # an image with no scene is never relevant


def _query(qs, kind, text):
    return next(q for q in qs if q.kind == kind and q.text == text)


def test_demo_queries_relevance_from_scenes():
    qs = demo_queries(SCENES, seed=0)
    rc = _query(qs, "one thing", "a red circle")
    assert np.flatnonzero(rc.relevant).tolist() == [0, 1, 4]
    assert np.flatnonzero(_query(qs, "two things", "a blue square and a red circle").relevant).tolist() == [4]
    assert np.flatnonzero(_query(qs, "one thing + size", "a large red circle").relevant).tolist() == [1]
    assert np.flatnonzero(_query(qs, "one thing + position", "a red circle at the top").relevant).tolist() == [1]
    assert np.flatnonzero(_query(qs, "colour alone", "a red shape").relevant).tolist() == [0, 1, 2, 4, 10]
    assert np.flatnonzero(_query(qs, "shape alone", "a star").relevant).tolist() == [5, 6, 11]
    kinds = {q.kind for q in qs}
    assert {"one thing, synonyms", "one thing, unseen phrasing"} <= kinds
    syn = [q for q in qs if q.kind == "one thing, synonyms"]
    assert all(q.relevant.any() for q in qs) and all(not q.relevant[-1] for q in qs)
    # synonyms are never the canonical words; the set is deterministic for the seed
    assert all(q.text != "red circle" for q in syn)
    assert [q.text for q in demo_queries(SCENES, seed=0)] == [q.text for q in qs]


def test_scores_of_known_rankings():
    qs = demo_queries(SCENES, seed=0)
    rc = _query(qs, "one thing", "a red circle")
    order = list(range(13))
    perfect = [0, 1, 4] + [i for i in order if i not in (0, 1, 4)]
    worst = [i for i in order if i not in (0, 1, 4)] + [0, 1, 4]
    s = score_queries([rc], np.array([perfect]))
    assert s["kinds"]["one thing"] == {"n": 1, "P@5": 100.0, "R@10": 100.0}
    assert s["examples"] == ["a red circle"]
    s = score_queries([rc], np.array([worst]))
    assert s["kinds"]["one thing"]["P@5"] == 0.0 and s["kinds"]["one thing"]["R@10"] == 0.0
    # one relevant in the top 5 (of min(5, 3) = 3 possible), two in the top 10
    mixed = [0, 5, 6, 7, 8, 9, 10, 1, 11, 12, 2, 3, 4]
    s = score_queries([rc], np.array([mixed]))
    assert s["kinds"]["one thing"]["P@5"] == pytest.approx(100 / 3, abs=0.05)
    assert s["kinds"]["one thing"]["R@10"] == pytest.approx(200 / 3, abs=0.05)
    assert s["examples"] == []
    assert "| one thing | 1 | 33.3 | 66.7 |" in typed_table(s)
    with pytest.raises(ValueError):
        score_queries([rc], np.array([[0, 1, 2]]))


def test_caption_phrases_and_real_data_queries():
    assert caption_phrases("A dog runs on the beach .") == {"subject": "a dog", "subject + place": "a dog on the beach"}
    assert caption_phrases("A man on a bike rides down the hill")["subject"] == "a man on a bike"
    assert caption_phrases("Two children are playing in the park")["subject + place"] == "two children in the park"
    assert caption_phrases("dog") == {}
    caps = ["A dog runs on the beach .", "A man rides a bike .", "A cat sleeps on a sofa ."]
    profiles = {"a dog": [1, 0, 0], "a dog on the beach": [1, 0, 0], "a man": [0, 1, 0], "a cat": [0, 0, 1],
                "a cat on a sofa": [0, 0.5, 1]}
    qs = phrase_queries(caps, lambda texts: np.array([profiles[t] for t in texts], float), 0.75, n=3, seed=0)
    got = {q.text: np.flatnonzero(q.relevant).tolist() for q in qs}
    assert got == {"a dog": [0], "a dog on the beach": [0], "a man": [1], "a cat": [2], "a cat on a sofa": [2]}


def test_short_queries_are_phrases_of_the_caption_and_deterministic():
    cap = "a picture of a small red circle on the left, a blue star at the top and a green square"
    assert phrases(cap) == ["a small red circle on the left", "a blue star at the top", "a green square"]
    outs = [short_query(cap, random.Random(s)) for s in range(200)]
    assert outs == [short_query(cap, random.Random(s)) for s in range(200)]  # same seed, same query
    assert len(set(outs)) > 20
    words = set(cap.replace(",", " ").split())
    for q in outs:
        assert set(q.split()) - {"and"} <= words and 2 <= len(q.split()) <= len(cap.split())
        assert q.split()[-1] not in {"the", "on", "at", "a", "of"}
    assert any(" and " in q for q in outs) and any(" and " not in q for q in outs)
    assert "a red circle" in {short_query("there is a red circle", random.Random(s)) for s in range(20)}
    assert short_query("hello", random.Random(0)) == "hello"  # nothing to cut: the caption itself


def test_short_queries_that_keep_the_noun():
    """keep_head: a phrase becomes its article, some of its modifiers and always its noun, sometimes with
    its rest; deterministic for a seed, and still a description of the caption's own picture."""
    import itertools

    from xmr_core.text.short_queries import PhraseIndex, noun_end

    assert noun_end("a small red circle on the left".split()) == 4
    assert noun_end("a black dog running on grass".split()) == 3 and noun_end("a red circle".split()) == 3
    cap = "a small cherry red circle on the left"
    mods = ["small", "cherry", "red"]
    allowed = {" ".join(["a", *m, "circle", *tail]) for r in range(4) for m in itertools.combinations(mods, r)
               for tail in ([], ["on", "the", "left"])}
    outs = [short_query(cap, random.Random(s), keep_head=True) for s in range(300)]
    assert outs == [short_query(cap, random.Random(s), keep_head=True) for s in range(300)]
    assert set(outs) <= allowed and {"a red circle", "a circle", "a small cherry red circle on the left"} <= set(outs)
    two = "a picture of a small red circle on the left, a blue star at the top and a green square"
    index = PhraseIndex([[two]])
    for s in range(200):
        q = short_query(two, random.Random(s), keep_head=True)
        assert index.describes(q, 0)
        assert all(p.split()[-1] in {"circle", "star", "square", "left", "top"} for p in q.split(" and "))


def test_training_samples_with_short_queries(small_demo, small_encoder):
    """The pipeline: the same (seed, epoch, class) gives the same batch; share 0 leaves every draw as before."""
    from dataclasses import replace

    from xmr_core.config import ModelConfig, TrainConfig
    from xmr_core.train.samples import ClassSamples, with_short_queries

    train = small_demo.split("train")
    mcfg = ModelConfig(input_size=80, width=0.25)
    tcfg = TrainConfig(captions_per_class=4, short_queries=0.5)
    a, b = ClassSamples(train, small_encoder, mcfg, tcfg), ClassSamples(train, small_encoder, mcfg, tcfg)
    for key in ((0, 3), (2, 7)):
        assert all(np.array_equal(x, y) for x, y in zip(a[key][:2], b[key][:2]))
    plain = ClassSamples(train, small_encoder, mcfg, replace(tcfg, short_queries=0.0))
    assert not np.array_equal(a[(0, 3)][1], plain[(0, 3)][1]) or not np.array_equal(a[(2, 7)][1], plain[(2, 7)][1])
    rng, ref = random.Random(5), random.Random(5)
    assert with_short_queries(["a b c"], 0.0, rng) == ["a b c"] and rng.random() == ref.random()
    with pytest.raises(Exception, match="cache-frozen"):
        TrainConfig(short_queries=0.5, cache_frozen=True)


def test_hard_batches_put_similar_classes_together_deterministically():
    """hard_batches: each batch is an anchor, its nearest unused classes, and random others; every
    class at most once an epoch; the same batches for the same (seed, epoch); plain batches at 0."""
    from xmr_core.train.samples import epoch_batches

    rng = np.random.default_rng(0)
    centres = np.eye(4)
    feats = np.repeat(centres, 10, axis=0) + 0.01 * rng.standard_normal((40, 4))  # 4 groups of 10 alike
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    group = np.repeat(np.arange(4), 10)
    batches = epoch_batches(40, 8, seed=3, epoch=1, features=feats, hard=0.5)
    assert len(batches) == 5 and all(len(b) == 8 for b in batches)
    flat = [k for b in batches for k in b]
    assert len(set(flat)) == len(flat)
    for b in batches[:2]:  # the first anchors still find 4 unused classes of their own group
        assert (group[b[1:5]] == group[b[0]]).all()
    assert epoch_batches(40, 8, seed=3, epoch=1, features=feats, hard=0.5) == batches
    assert epoch_batches(40, 8, seed=3, epoch=2, features=feats, hard=0.5) != batches
    assert epoch_batches(40, 8, 3, 1, feats, 0.0) == epoch_batches(40, 8, 3, 1)


def test_phrase_index_knows_which_pictures_a_text_describes():
    """phrase_positives: a text describes a picture when each of its phrases is found, in order, within
    one phrase of the picture's captions; words bound to other things do not count."""
    from xmr_core.text.short_queries import PhraseIndex, content_phrases

    assert content_phrases("there is a small red circle on the left and a blue star at the top") == [
        ("small", "red", "circle", "left"), ("blue", "star", "top")]
    ix = PhraseIndex([["a small red circle on the left and a blue star at the top", "two shapes: a disc, a star"],
                      ["a red star and a blue circle"], ["a dog runs on the beach"]])
    assert ix.describes("a red circle", 0) and not ix.describes("a red circle", 1)  # bound to other things in 1
    assert ix.describes("a red star", 1) and not ix.describes("a red star", 0)
    assert ix.describes("a circle on the left and a blue star", 0)  # both phrases, each in its own
    assert not ix.describes("a circle and a green star", 0)  # one phrase not found is enough
    assert not ix.describes("a circle red", 0)  # order kept within a phrase
    assert ix.describes("a disc", 0) and ix.describes("a circle", 1)
    assert ix.describes("a dog on the beach", 2) and not ix.describes("a dog", 0)
    assert not ix.describes("the", 2)  # nothing with content describes anything
    # (described, every word present): picture 1 has red and circle, bound to other things
    assert ix.matches("a red circle", [0, 1, 2]) == [(True, True), (False, True), (False, False)]
    # every short query describes its own caption's picture
    cap = "a picture of a small red circle on the left, a blue star at the top and a green square"
    own = PhraseIndex([[cap]])
    assert all(own.describes(short_query(cap, random.Random(s)), 0) for s in range(200))


def test_phrase_positives_in_the_batch(small_demo, small_encoder):
    """The batch carries which pictures each text describes: its own always, others by PhraseIndex; and
    which hold its words bound to other things (binding negatives)."""
    from xmr_core.config import ModelConfig, TrainConfig
    from xmr_core.text.short_queries import content_phrases
    from xmr_core.train.samples import ClassSamples, collate

    train = small_demo.split("train")
    mcfg = ModelConfig(input_size=80, width=0.25)
    samples = ClassSamples(train, small_encoder, mcfg, TrainConfig(captions_per_class=2, short_queries=0.5,
                                                                   phrase_positives=True))
    items = [samples[(0, k)] for k in range(8)]
    imgs, il, txts, tl, info = collate(items, samples.phrase_index)
    rel = info["relevance"]
    assert rel.shape == (len(tl), len(il)) and rel.dtype == torch.bool
    short = [s for it in items for s in it[4]]
    assert info["short"].tolist() == short and any(short) and not all(short)
    for it in items:  # a text not flagged short is one of its picture's captions
        own = {c.text for c in train.captions_of(train.images[it[2]].image_id)}
        assert all(t in own for t, s in zip(it[3], it[4]) if not s)
    assert rel[tl.view(-1, 1) == il.view(1, -1)].all()  # own picture
    texts = [t for it in items for t in it[3]]
    bind = info["binding"]
    assert bind.shape == rel.shape and not (bind & rel).any()
    for j, t in enumerate(texts):
        for i, c in enumerate(il.tolist()):
            assert bool(rel[j, i]) == (c == int(tl[j]) or samples.phrase_index.describes(t, c))
            words = set(w for p in content_phrases(t) for w in p) <= samples.phrase_index.words[c]
            assert bool(bind[j, i]) == (words and not rel[j, i])
    plain = ClassSamples(train, small_encoder, mcfg, TrainConfig(captions_per_class=2, short_queries=0.5))
    assert plain.phrase_index is None and len(collate([plain[(0, k)] for k in range(4)])) == 4
    nce = ClassSamples(train, small_encoder, mcfg, TrainConfig(captions_per_class=2, short_queries=0.5,
                                                               short_query_losses="nce"))
    info = collate([nce[(0, k)] for k in range(4)])[4]
    assert info["relevance"] is None and info["words"] is None and info["short"].dtype == torch.bool
    with pytest.raises(Exception, match="cache-frozen"):
        TrainConfig(phrase_positives=True, cache_frozen=True)
    with pytest.raises(Exception, match="phrase_positives"):
        TrainConfig(binding_negatives=4.0)
    with pytest.raises(Exception, match="cache-frozen"):
        TrainConfig(short_query_words="own", cache_frozen=True)


def test_own_words_in_the_batch(small_demo, small_encoder):
    """short_query_words="own": collate gives each text's own words in the words head's columns."""
    from xmr_core.config import ModelConfig, TrainConfig
    from xmr_core.text.tokenize import tokenize
    from xmr_core.train.samples import ClassSamples, collate

    train = small_demo.split("train")
    samples = ClassSamples(train, small_encoder, ModelConfig(input_size=80, width=0.25),
                           TrainConfig(captions_per_class=2, short_queries=0.5, short_query_words="own"))
    assert samples.texts_travel
    vocab = ["red", "circle", "blue", "star", "square"]
    index = {w: i for i, w in enumerate(vocab)}
    items = [samples[(0, k)] for k in range(6)]
    words = collate(items, None, index)[4]["words"]
    texts = [t for it in items for t in it[3]]
    assert words.shape == (len(texts), len(vocab))
    for row, text in zip(words, texts):
        assert {vocab[j] for j in row.nonzero().flatten().tolist()} == set(tokenize(text)) & set(vocab)
