"""The caption-words head's targets (train/samples.py ``word_targets``): the share of captions above
which a word counts as carrying no content (``TrainConfig.words_max_df``)."""
from __future__ import annotations


def test_words_max_df_keeps_the_words_that_name_shapes(tmp_path):
    from xmr_core.config import TrainConfig
    from xmr_core.data import load_dataset
    from xmr_core.data.demo import generate_demo
    from xmr_core.train.samples import word_targets

    ds = load_dataset(generate_demo(tmp_path, n_images=120, seed=1, image_size=32, n_val=10, n_test=10)).split("train")
    assert TrainConfig().words_max_df == 0.10  # the default keeps what every recipe trained with
    default, _ = word_targets(ds, 2000)
    assert word_targets(ds, 2000, 0.10)[0] == default
    wide, y = word_targets(ds, 2000, 0.3)
    shapes = {"circle", "square", "triangle", "hexagon", "diamond"}
    assert not shapes & set(default)  # at 10 % the demo's shape names count as stopwords
    assert shapes <= set(wide) and "a" not in wide and "the" not in wide
    assert y.shape == (len(ds), len(wide)) and set(default) <= set(wide)


def test_words_phrases_add_adjacent_pairs_after_the_words(tmp_path):
    """``words_phrases``: the same single words first (same columns), then pairs of adjacent content words
    ("red circle": adjacent once the words in more than max_df of the captions are dropped), each a
    target of exactly the images with a caption holding that pair; ``singles=False``: the pairs alone."""
    from collections import Counter

    from xmr_core.data import load_dataset
    from xmr_core.data.demo import generate_demo
    from xmr_core.text import tokenize
    from xmr_core.train.samples import word_targets

    ds = load_dataset(generate_demo(tmp_path, n_images=120, seed=1, image_size=32, n_val=10, n_test=10)).split("train")
    words, yw = word_targets(ds, 2000, 0.3)
    both, yb = word_targets(ds, 2000, 0.3, phrases=True)
    assert both[:len(words)] == words and (yb[:, :len(words)] == yw).all()
    pairs = both[len(words):]
    assert pairs and all(len(p.split()) == 2 for p in pairs) and len(set(pairs)) == len(pairs)
    row = {im.image_id: i for i, im in enumerate(ds.images)}
    df = Counter(w for c in ds.captions for w in set(tokenize(c.text)))
    content = [[w for w in tokenize(c.text) if df[w] <= 0.3 * len(ds.captions)] for c in ds.captions]
    from xmr_core.data.demo import COLOURS, SHAPES

    assert any(p.split()[0] in COLOURS and p.split()[1] in SHAPES for p in pairs)  # "red square": bound
    assert not any(w in {"a", "the", "on"} for p in pairs for w in p.split())
    for j, p in list(enumerate(pairs, len(words)))[:40]:
        a, b = p.split()
        holds = {row[c.image_id] for c, q in zip(ds.captions, content) if (a, b) in set(zip(q, q[1:]))}
        assert set(yb[:, j].nonzero().flatten().tolist()) == holds
    only, yo = word_targets(ds, 2000, 0.3, phrases=True, singles=False)
    assert only == pairs and (yo == yb[:, len(words):]).all()
    assert word_targets(ds, len(words) + 3, 0.3, phrases=True)[0] == both[:len(words) + 3]  # one cap for both


def test_words_lexicon_reads_synonyms_as_one_word_and_pairs_within_a_phrase(tmp_path):
    """``words_lexicon``: the demo's captions read through its lexicon give canonical targets (no synonym is a
    column of its own), and each colour-shape pair is a target of exactly the pictures whose scene holds that
    thing (every caption names every thing); pairs never cross a phrase ("circle blue" in "a red circle and a
    blue star" is not one)."""
    import pytest

    from xmr_core.config import TrainConfig
    from xmr_core.data import load_dataset
    from xmr_core.data.demo import COLOURS, SHAPES, dataset_lexicon, dataset_scenes, demo_lexicon, generate_demo
    from xmr_core.text.short_queries import Lexicon
    from xmr_core.train.samples import word_targets

    path = generate_demo(tmp_path, n_images=120, seed=1, image_size=32, n_val=10, n_test=10)
    ds = load_dataset(path).split("train")
    lex = Lexicon(dataset_lexicon(path))
    words, y = word_targets(ds, 2000, 0.3, phrases=True, lexicon=lex)
    assert not set(words) & set(demo_lexicon())  # no synonym, trait or size word as written
    assert set(COLOURS) | set(SHAPES) <= set(words)
    scenes = dataset_scenes(path)
    things = [{(t["colour"], t["shape"]) for t in scenes[im.image_id]["things"]} for im in ds.images]
    bound = [w for w in words if len(w.split()) == 2 and w.split()[0] in COLOURS and w.split()[1] in SHAPES]
    assert len(bound) >= 20
    for w in bound:
        assert y[:, words.index(w)].bool().tolist() == [tuple(w.split()) in th for th in things]
    crossing = {f"{s} {c}" for s in SHAPES for c in COLOURS}  # "circle blue": a shape, then the next thing's colour
    assert not crossing & set(words)
    with pytest.raises(Exception, match="own"):
        TrainConfig(words_lexicon=True, short_query_words="own")
