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
    from xmr_core.data.demo import COLOURS, SHAPES, demo_lexicon
    from xmr_core.text.short_queries import Lexicon

    read = Lexicon(demo_lexicon())
    for q in syn:  # a listed colour word and a listed shape word (whole words, "scarlet disc"), neither the name
        colour, shape = read.canonical(q.text).split()
        assert q.text in {f"{c} {w}" for c in COLOURS[colour][1] if c != colour for w in SHAPES[shape] if w != shape}
        truth = [s is not None and any((t["colour"], t["shape"]) == (colour, shape) for t in s["things"])
                 for s in SCENES]
        assert q.relevant.tolist() == truth
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


def test_a_lexicon_reads_synonyms_as_one_word():
    """phrase_lexicon: synonyms (longest entry first) read as their canonical word, a repeated word at its last
    place; binding still holds (the words must stand in one phrase)."""
    from xmr_core.text.short_queries import Lexicon, PhraseIndex, content_phrases

    lex = Lexicon({"crimson": "red", "Scarlet": "red", "disc": "circle", "round shape": "circle", "round": "circle",
                   "dot": "circle", "navy": "blue"})
    assert lex.canonical("A  Crimson round shape") == "a red circle"  # "round shape" before "round"
    assert lex.canonical("a scarlet rounded disc") == "a red rounded circle"  # whole words only
    assert content_phrases("a round red circle", lex) == [("red", "circle")]
    assert content_phrases("a round red circle") == [("round", "red", "circle")]
    caps = [["a scarlet disc on the left and a navy star"], ["a red star and a blue dot"], ["a red circle"]]
    plain, read = PhraseIndex(caps), PhraseIndex(caps, lex)
    assert not plain.describes("a crimson dot", 0) and read.describes("a crimson dot", 0)
    assert read.describes("a red circle", 2) and read.describes("a blue star", 0)
    assert read.matches("a crimson dot", [0, 1, 2]) == [(True, True), (False, True), (True, True)]  # 1: apart
    assert not read.describes("a red dot on the right", 0)  # every content word still counts
    empty = PhraseIndex(caps, Lexicon({}))
    assert empty.lexicon is None and empty.phrases == plain.phrases and not Lexicon({})


def test_the_demo_lexicon_makes_phrase_positives_agree_with_the_scenes(small_demo, tmp_path):
    """On the generated demo, read through its own lexicon (written into dataset_demo.json), "a <colour>
    <shape>" describes exactly the pictures whose scene holds that thing: no other picture of a red circle
    is taken for a wrong answer because its captions said "scarlet disc"."""
    import json

    from xmr_core.data.demo import COLOURS, SHAPES, SIZES, dataset_lexicon, dataset_scenes, demo_lexicon
    from xmr_core.text.short_queries import Lexicon, PhraseIndex

    lex = demo_lexicon()
    assert dataset_lexicon(small_demo.source) == lex
    read = Lexicon(lex)
    for table in (SHAPES, COLOURS, SIZES):
        for name, entry in table.items():
            words = entry if table is SHAPES else entry[1]
            assert all(read.canonical(w) == name for w in words)
    train = small_demo.split("train")
    scenes = dataset_scenes(small_demo.source)
    things = [{(t["colour"], t["shape"]) for t in scenes[im.image_id]["things"]} for im in train.images]
    caps = [[c.text for c in train.captions_of(im.image_id)] for im in train.images]
    index, plain = PhraseIndex(caps, read), PhraseIndex(caps)
    missed = 0
    for colour in COLOURS:
        for shape in SHAPES:
            truth = [(colour, shape) in th for th in things]
            assert index.described(f"a {colour} {shape}", list(range(len(caps)))) == truth
            missed += sum(t and not d for t, d in zip(truth, plain.described(f"a {colour} {shape}",
                                                                             list(range(len(caps))))))
    assert missed > 0  # without it, some pictures of the thing were missed
    other = tmp_path / "plain.json"
    other.write_text(json.dumps({"images": []}))
    assert dataset_lexicon(other) == {} and dataset_lexicon(tmp_path / "absent.json") == {}
    # a demo written before the lexicon is written again on first use (the same images and captions)
    from xmr_core.data.demo import ensure_demo

    path = ensure_demo(60, out_dir=tmp_path / "old")
    old = json.loads(path.read_text())
    old.pop("lexicon")
    path.write_text(json.dumps(old))
    assert dataset_lexicon(ensure_demo(60, out_dir=tmp_path / "old")) == lex
    assert json.loads(path.read_text())["images"] == old["images"]


def test_swapped_captions_trade_two_nouns():
    """swap_negatives: two one-thing phrases trade their nouns; the words stay the same; None with nothing to
    swap; deterministic for the RNG."""
    import re
    from collections import Counter

    from xmr_core.text.short_queries import swapped_caption

    cap = "There is a small red circle on the left and a blue star at the top"
    assert swapped_caption(cap, random.Random(0)) == "there is a small red star on the left and a blue circle at the top"
    assert swapped_caption("a man in a red shirt and a dog", random.Random(0)) == "a dog in a red shirt and a man"
    assert swapped_caption("a red circle", random.Random(0)) is None
    assert swapped_caption("a red circle and a blue circle", random.Random(0)) is None  # same nouns
    assert swapped_caption("two shapes on beige: a red circle", random.Random(0)) is None  # "two shapes": not one
    three = "a picture of a small red circle, a large black box plus a green star on beige"
    outs = {swapped_caption(three, random.Random(k)) for k in range(30)}
    assert len(outs) == 3 and three.lower() not in outs
    words = lambda text: Counter(re.findall(r"[a-z]+", text))  # noqa: E731 - the same words, punctuation aside
    assert all(words(o) == words(three.lower()) for o in outs)
    assert swapped_caption(three, random.Random(5)) == swapped_caption(three, random.Random(5))


def test_swapped_captions_are_wrong_answers_of_the_contrastive_term_only():
    """The negatives join the contrastive term as texts of no class (a positive of no picture); the other
    terms never see them."""
    from xmr_core.config import TrainConfig
    from xmr_core.losses import Batch, CenterLoss, Outputs, info_nce, training_losses

    torch.manual_seed(0)
    emb = torch.randn(6, 8)  # 2 images, then 4 captions (2 a class)
    labels = torch.tensor([0, 1, 0, 0, 1, 1])
    negs = torch.randn(3, 8)
    t = TrainConfig(contrastive_weight=1.0, softmax_weight=0.0, center_loss_factor=0.0, swap_negatives=1.0)
    out = Outputs(emb, None, None)
    with_negs = training_losses(out, Batch(labels, 2, CenterLoss(2, 8), None, negatives=negs), t)
    without = training_losses(out, Batch(labels, 2, CenterLoss(2, 8), None), t)
    e = torch.nn.functional.normalize(emb, dim=1)
    ref = info_nce(e[:2], torch.cat([e[2:], torch.nn.functional.normalize(negs, dim=1)]), labels[:2],
                   torch.tensor([0, 0, 1, 1, -1, -1, -1]), t.temperature)
    assert torch.allclose(with_negs["nce"], ref) and with_negs["nce"] > without["nce"]
    def nce(negatives):
        return training_losses(out, Batch(labels, 2, CenterLoss(2, 8), None, negatives=negatives), t)["nce"]

    # swapped captions that picture 0 sits on cost more than ones pointing away from it
    assert nce(emb[0:1].repeat(3, 1)) > nce(-emb[0:1].repeat(3, 1))
    with pytest.raises(Exception, match="cache-frozen"):
        TrainConfig(swap_negatives=0.5, cache_frozen=True)
    with pytest.raises(Exception, match="contrastive"):
        TrainConfig(swap_negatives=0.5, contrastive_weight=0.0)


def test_swapped_captions_in_the_batch(small_demo, small_encoder):
    """ClassSamples paints one swapped caption for a class that has two things to swap (share 1.0); collate
    gathers them after the batch's captions, and keeps the labels of the captions alone."""
    from xmr_core.config import ModelConfig, TrainConfig
    from xmr_core.text.short_queries import swapped_caption
    from xmr_core.train.samples import ClassSamples, collate

    train = small_demo.split("train")
    samples = ClassSamples(train, small_encoder, ModelConfig(input_size=80, width=0.25),
                           TrainConfig(captions_per_class=2, swap_negatives=1.0, contrastive_weight=1.0))
    items = [samples[(0, k)] for k in range(12)]
    for it in items:
        caps = [c.text for c in train.captions_of(train.images[it[2]].image_id)]
        can = any(swapped_caption(c, random.Random(0)) is not None for c in caps)
        assert it[5].shape == ((1 if can else 0), 3, 80, 80)
    assert any(len(it[5]) for it in items) and not all(len(it[5]) for it in items)  # one-thing scenes have none
    imgs, il, txts, tl, info = collate(items)
    assert len(tl) == len(txts) == 24 and info["negatives"].shape[0] == sum(len(it[5]) for it in items)
    again = [samples[(0, k)] for k in range(12)]
    assert all(torch.equal(a[5], b[5]) for a, b in zip(items, again))  # deterministic for (seed, epoch, class)


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
    with pytest.raises(Exception, match="phrase_positives"):
        TrainConfig(phrase_lexicon=True)
    lexed = ClassSamples(train, small_encoder, mcfg, TrainConfig(captions_per_class=2, short_queries=0.5,
                                                                 phrase_positives=True, phrase_lexicon=True))
    assert lexed.phrase_index.lexicon is not None and samples.phrase_index.lexicon is None
    items = [lexed[(0, k)] for k in range(8)]
    _, il, _, tl, info = collate(items, lexed.phrase_index)
    texts = [t for it in items for t in it[3]]
    for j, t in enumerate(texts):  # relevance read through the lexicon
        assert info["relevance"][j].tolist() == [c == int(tl[j]) or lexed.phrase_index.describes(t, c)
                                                 for c in il.tolist()]
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
