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
