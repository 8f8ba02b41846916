"""The embedded demo dataset: synthetic scenes of coloured shapes with human-like captions.

Nothing is downloaded: ``generate_demo`` draws scenes of 1-3 shapes (6 shapes,
8 colours, 3 sizes, 9 positions, 5 backgrounds) and writes five captions per
image from many templates and synonyms. The content space is deliberately
small enough that *other* images show the same content described in other
words ("a crimson disc on the left" vs "red circle at the left side"), which is
what makes semantically-right-but-unpaired retrievals real here, as they are in
Flickr30K. Output is a Karpathy-layout JSON + PNGs, deterministic for a seed.
"""
from __future__ import annotations

import json
import math
import os
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from ..files import MAX_DATASET_BYTES, read_json, write_text_atomic


# bump when the generator's output changes (2: shapes and colours described as people do; 3: a quarter
# of the training images are counterfactual twins, val and test unchanged)
DEMO_VERSION = 3
# Shares of the training images that are counterfactual twins (generate_demo): 0 = none. A quarter of
# shape twins teach the demo network shape (typed one-thing P@5 on val 25.9 -> 34.9 with the words
# head's softmax, DEMO.md "Typed queries"); half of them, or 0.4, made training diverge.
DEMO_TWINS = 0.25
DEMO_COLOUR_TWINS = 0.0

SHAPES = {  # name -> synonyms used in captions
    "circle": ["circle", "disc", "round shape", "dot", "circle"],
    "square": ["square", "box", "block", "square"],
    "triangle": ["triangle", "triangular shape", "wedge", "triangle"],
    "star": ["star", "star shape", "five pointed star"],
    "diamond": ["diamond", "rhombus", "diamond shape"],
    "hexagon": ["hexagon", "six sided shape", "hexagon"],
}
COLOURS = {  # name -> (RGB, synonyms)
    "red": ((220, 30, 40), ["red", "crimson", "scarlet", "red"]),
    "green": ((40, 170, 60), ["green", "emerald", "green"]),
    "blue": ((35, 70, 215), ["blue", "navy", "cobalt", "blue"]),
    "yellow": ((240, 210, 30), ["yellow", "golden", "lemon", "yellow"]),
    "orange": ((250, 130, 20), ["orange", "tangerine", "orange"]),
    "purple": ((130, 45, 170), ["purple", "violet", "lilac", "purple"]),
    "pink": ((245, 120, 180), ["pink", "rose", "pink"]),
    "black": ((25, 25, 25), ["black", "dark", "jet black"]),
}
SIZES = {  # name -> (fraction of the canvas, synonyms)
    "small": (0.16, ["small", "little", "tiny"]),
    "medium": (0.26, ["medium", "mid sized", "moderate"]),
    "large": (0.38, ["large", "big", "huge"]),
}
POSITIONS = {  # name -> (cx, cy as fractions, phrases)
    "top left": (0.25, 0.25, ["in the top left corner", "at the upper left", "top left"]),
    "top": (0.5, 0.22, ["at the top", "near the top edge", "up top"]),
    "top right": (0.75, 0.25, ["in the top right corner", "at the upper right", "top right"]),
    "left": (0.22, 0.5, ["on the left", "at the left side", "to the left"]),
    "center": (0.5, 0.5, ["in the middle", "in the centre", "at the center"]),
    "right": (0.78, 0.5, ["on the right", "at the right side", "to the right"]),
    "bottom left": (0.25, 0.75, ["in the bottom left corner", "at the lower left", "bottom left"]),
    "bottom": (0.5, 0.78, ["at the bottom", "near the bottom edge", "down below"]),
    "bottom right": (0.75, 0.75, ["in the bottom right corner", "at the lower right", "bottom right"]),
}
BACKGROUNDS = {  # name -> (RGB, phrases)
    "white": ((250, 250, 250), ["on a white background", "on plain white", "against white"]),
    "grey": ((175, 175, 180), ["on a grey background", "on a gray backdrop", "against grey"]),
    "sky": ((170, 210, 245), ["on a light blue background", "against a pale sky blue", "on sky blue"]),
    "sand": ((235, 215, 170), ["on a sandy background", "on beige", "against a sand coloured backdrop"]),
    "mint": ((190, 235, 200), ["on a mint background", "on pale green", "against a light green backdrop"]),
}
# How people describe a shape or a colour beyond its name ("a round red circle", "a cherry red
# star"). Word2Vec learns a word from its contexts: without these, every shape word stood in exactly
# the same contexts as every other ("a red ___ on the left"), their vectors were near copies
# (cosine 0.96 between "circle" and "square") and painted captions could not tell them apart
# (docs/METHOD.md §5b). Real captions give nouns contexts of their own; so does the demo now.
SHAPE_TRAITS = {
    "circle": ["round", "perfectly round", "smooth round"],
    "square": ["boxy", "four cornered", "right angled"],
    "triangle": ["pointy", "three cornered", "arrow like"],
    "star": ["spiky", "twinkly", "starry"],
    "diamond": ["slanted", "kite like", "tilted"],
    "hexagon": ["honeycomb", "six cornered", "nut like"],
}
COLOUR_TRAITS = {
    "red": ["cherry", "fire engine", "tomato"],
    "green": ["grass", "leaf", "lime"],
    "blue": ["ocean", "deep sea", "royal"],
    "yellow": ["sunny", "banana", "butter"],
    "orange": ["pumpkin", "carrot", "apricot"],
    "purple": ["grape", "plum", "amethyst"],
    "pink": ["bubblegum", "flamingo", "candy"],
    "black": ["coal", "pitch", "ink"],
}
TRAIT_P = 0.35  # share of mentions that add a shape trait, and (independently) a colour trait
NUMBER = {1: ["one", "a single", "one"], 2: ["two", "a pair of", "two"], 3: ["three", "a group of three", "three"]}


@dataclass(frozen=True)
class Thing:
    shape: str
    colour: str
    size: str
    position: str


def _scene(rng: random.Random) -> tuple[str, list[Thing]]:
    n = rng.choices([1, 2, 3], weights=[0.45, 0.35, 0.2])[0]
    positions = rng.sample(list(POSITIONS), n)
    things = [Thing(rng.choice(list(SHAPES)), rng.choice(list(COLOURS)), rng.choice(list(SIZES)), p)
              for p in positions]
    return rng.choice(list(BACKGROUNDS)), things


def demo_lexicon() -> dict[str, str]:
    """The generator's own synonyms, each word or phrase it may write -> one canonical word (a shape's,
    colour's or size's name; a position's or background's name), for reading captions with synonyms as
    one word (``text.short_queries.Lexicon``, ``TrainConfig.phrase_lexicon``). Written into
    ``dataset_demo.json`` as ``lexicon``: any dataset JSON may carry one."""
    out: dict[str, str] = {}
    for name, words in SHAPES.items():
        out.update({w: name for w in words + SHAPE_TRAITS[name]})
    for name, (_, words) in COLOURS.items():
        out.update({w: name for w in words + COLOUR_TRAITS[name]})
    for name, (_, words) in SIZES.items():
        out.update({w: name for w in words})
    for name, (_, _, words) in POSITIONS.items():
        out.update({w: name for w in words})
    for name, (_, words) in BACKGROUNDS.items():
        out.update({w: f"{name} background" for w in words})
    return {k: v for k, v in sorted(out.items()) if k != v}


def _polygon(cx: float, cy: float, r: float, n: int, rot: float) -> list[tuple[float, float]]:
    return [(cx + r * math.cos(rot + 2 * math.pi * k / n), cy + r * math.sin(rot + 2 * math.pi * k / n))
            for k in range(n)]


def render_scene(background: str, things: list[Thing], size: int, rng: random.Random) -> Image.Image:
    """Draw a scene; positions and sizes are jittered so no two images are identical."""
    im = Image.new("RGB", (size, size), BACKGROUNDS[background][0])
    d = ImageDraw.Draw(im)
    for t in things:
        fx, fy, _ = POSITIONS[t.position]
        cx = (fx + rng.uniform(-0.05, 0.05)) * size
        cy = (fy + rng.uniform(-0.05, 0.05)) * size
        r = SIZES[t.size][0] * size / 2 * rng.uniform(0.9, 1.1)
        col = COLOURS[t.colour][0]
        col = tuple(max(0, min(255, c + rng.randint(-12, 12))) for c in col)
        if t.shape == "circle":
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=col)
        elif t.shape == "square":
            d.polygon(_polygon(cx, cy, r * 1.2, 4, math.pi / 4 + rng.uniform(-0.15, 0.15)), fill=col)
        elif t.shape == "triangle":
            d.polygon(_polygon(cx, cy, r * 1.2, 3, -math.pi / 2 + rng.uniform(-0.15, 0.15)), fill=col)
        elif t.shape == "diamond":
            pts = [(cx, cy - r * 1.25), (cx + r * 0.8, cy), (cx, cy + r * 1.25), (cx - r * 0.8, cy)]
            d.polygon(pts, fill=col)
        elif t.shape == "hexagon":
            d.polygon(_polygon(cx, cy, r * 1.1, 6, rng.uniform(0, 0.5)), fill=col)
        elif t.shape == "star":
            rot = -math.pi / 2 + rng.uniform(-0.2, 0.2)
            pts = []
            for k in range(10):
                rr = r * 1.25 if k % 2 == 0 else r * 0.5
                a = rot + math.pi * k / 5
                pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
            d.polygon(pts, fill=col)
    return im


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _describe_thing(t: Thing, rng: random.Random, with_pos: bool, with_size: bool) -> str:
    colour = rng.choice(COLOURS[t.colour][1])
    shape = rng.choice(SHAPES[t.shape])
    size = rng.choice(SIZES[t.size][1]) if with_size else ""
    trait = rng.choice(SHAPE_TRAITS[t.shape]) if rng.random() < TRAIT_P else ""
    if rng.random() < TRAIT_P:
        colour = f"{rng.choice(COLOUR_TRAITS[t.colour])} {colour}"
    words = " ".join(w for w in (size, trait, colour, shape) if w)
    phrase = f"{_article(words)} {words}"
    if with_pos:
        phrase += " " + rng.choice(POSITIONS[t.position][2])
    return phrase


def _join(parts: list[str], rng: random.Random) -> str:
    if len(parts) == 1:
        return parts[0]
    conj = rng.choice(["and", "and", "plus", "next to"]) if len(parts) == 2 else "and"
    return ", ".join(parts[:-1]) + f" {conj} " + parts[-1]


def make_captions(background: str, things: list[Thing], rng: random.Random, n: int = 5) -> list[str]:
    """Five different human-like captions of one scene, from many templates."""
    bg = BACKGROUNDS[background][1]
    templates = [
        lambda: f"{_join([_describe_thing(t, rng, True, True) for t in things], rng)} {rng.choice(bg)}",
        lambda: f"there is {_join([_describe_thing(t, rng, True, False) for t in things], rng)}",
        lambda: f"a picture of {_join([_describe_thing(t, rng, False, True) for t in things], rng)} {rng.choice(bg)}",
        lambda: (f"{rng.choice(NUMBER[len(things)])} {'shape' if len(things) == 1 else 'shapes'} "
                 f"{rng.choice(bg)}: {_join([_describe_thing(t, rng, False, False) for t in things], rng)}"),
        lambda: f"{_join([_describe_thing(t, rng, True, rng.random() < 0.5) for t in reversed(things)], rng)}",
        lambda: (f"this image shows {_join([_describe_thing(t, rng, rng.random() < 0.5, True) for t in things], rng)}"),
        lambda: f"{rng.choice(bg)} we see {_join([_describe_thing(t, rng, True, False) for t in things], rng)}",
        lambda: f"simple drawing with {_join([_describe_thing(t, rng, False, False) for t in things], rng)}",
    ]
    out: list[str] = []
    order = rng.sample(range(len(templates)), len(templates))
    k = 0
    while len(out) < n:
        cap = templates[order[k % len(order)]]()
        k += 1
        cap = " ".join(cap.replace(" :", ":").split())
        if cap not in out or k > 4 * n:
            out.append(cap)
    return out


def default_demo_dir() -> Path:
    """Where the demo dataset is written: ``$XMR_DATA_DIR/demo`` or ``<repo>/data/demo``."""
    base = os.environ.get("XMR_DATA_DIR")
    if base:
        return Path(base) / "demo"
    return Path(__file__).resolve().parents[2] / "data" / "demo"


def twin_scene(things: list[Thing], kind: str, rng: random.Random) -> list[Thing]:
    """A counterfactual twin of a scene's things: one thing's ``kind`` ("shape" or "colour") changed to
    another value, everything else (the other things, colours or shapes, sizes, positions) kept.
    ``kind="swap"``: two things of different colours trade colours (the same colours and shapes, bound
    the other way: "a red circle and a blue square" -> "a blue circle and a red square"); a scene
    without two such things gets a colour twin instead."""
    if kind == "swap":
        pairs = [(a, b) for a in range(len(things)) for b in range(a + 1, len(things))
                 if things[a].colour != things[b].colour]
        if pairs:
            a, b = rng.choice(pairs)
            col = {a: things[b].colour, b: things[a].colour}
            return [Thing(**{**t.__dict__, "colour": col[k]}) if k in col else t for k, t in enumerate(things)]
        kind = "colour"
    j = rng.randrange(len(things))
    pool = SHAPES if kind == "shape" else COLOURS
    new = rng.choice([v for v in pool if v != getattr(things[j], kind)])
    return [Thing(**{**t.__dict__, kind: new}) if k == j else t for k, t in enumerate(things)]


def _twin_kinds(n_train: int, twins: float, colour_twins: float, seed: int,
                swap_twins: float = 0.0) -> dict[int, str]:
    """Which training images are twins, by index (each the twin of the image just before it, an
    ordinary scene): ``twins`` of the training images change a shape, ``colour_twins`` a colour.
    Drawn from their own RNG, so every image that is no twin is exactly what it is without twins."""
    rng = random.Random(seed * 7_919 + 17)
    slots = list(range(1, n_train, 2))  # (0, 1), (2, 3), ...: the second of a pair may be a twin
    rng.shuffle(slots)
    n_shape, n_colour = round(twins * n_train), round(colour_twins * n_train)
    n_swap = round(swap_twins * n_train)
    if n_shape + n_colour + n_swap > len(slots):
        raise ValueError(f"twins {twins} + colour_twins {colour_twins} + swap_twins {swap_twins} exceed half of "
                         "the training images")
    kinds = {i: "shape" for i in slots[:n_shape]}
    kinds.update({i: "colour" for i in slots[n_shape:n_shape + n_colour]})
    kinds.update({i: "swap" for i in slots[n_shape + n_colour:n_shape + n_colour + n_swap]})
    return kinds


def generate_demo(out_dir: str | Path | None = None, n_images: int = 3000, seed: int = 0,
                  image_size: int = 128, n_val: int = 200, n_test: int = 200, progress: bool = False,
                  twins: float = 0.0, colour_twins: float = 0.0, swap_twins: float = 0.0) -> Path:
    """Write the demo dataset (PNGs + ``dataset_demo.json``) and return the JSON path.

    Deterministic for ``(n_images, seed, image_size, twins, colour_twins)``; splits: the last
    ``n_test`` images are test, the ``n_val`` before them val, the rest train. ``twins`` /
    ``colour_twins``: shares of the training images that are counterfactual twins of the image
    before them (:func:`twin_scene`: one shape / one colour changed; its own captions; its scene
    says ``twin_of``), for batches that hold both (``TrainConfig.twin_batches``). Val and test are
    ordinary scenes, the same with or without twins. ``swap_twins``: a share whose twin trades the
    colours of two things (``twin_scene(kind="swap")``).
    """
    if n_images < n_val + n_test + 10:
        raise ValueError(f"n_images={n_images} must exceed n_val + n_test + 10 = {n_val + n_test + 10}")
    out = Path(out_dir) if out_dir else default_demo_dir()
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    kinds = _twin_kinds(n_images - n_val - n_test, twins, colour_twins, seed, swap_twins)
    items = []
    it = range(n_images)
    if progress:
        from ..progress import progress_bar

        it = progress_bar(iterable=it, desc="demo images", unit="img")
    prev: tuple = ()
    for i in it:
        draw = rng.getrandbits(64)
        srng = random.Random(draw)
        background, things = _scene(srng)
        scene: dict = {}
        if i in kinds:  # the previous image's scene, one shape or colour changed, drawn the same way
            background, things = prev[0], twin_scene(prev[1], kinds[i], srng)
            srng = random.Random(prev[2])
            _scene(srng)
            scene = {"twin_of": items[-1]["filename"], "twin": kinds[i]}
        prev = (background, things, draw)
        im = render_scene(background, things, image_size, srng)
        fname = f"scene_{i:05d}.png"
        im.save(out / "images" / fname, compress_level=1)
        split = "train" if i < n_images - n_val - n_test else "val" if i < n_images - n_test else "test"
        caps = make_captions(background, things, srng)
        items.append({
            "filename": fname, "imgid": i, "split": split,
            "sentences": [{"raw": c, "sentid": i * 5 + j} for j, c in enumerate(caps)],
            "scene": {"background": background, "things": [t.__dict__ for t in things], **scene},
        })
    meta = {"dataset": "demo", "version": DEMO_VERSION, "seed": seed, "n_images": n_images,
            "image_size": image_size, "lexicon": demo_lexicon(), "images": items}
    if twins or colour_twins:
        meta.update(twins=twins, colour_twins=colour_twins)
    if swap_twins:
        meta.update(swap_twins=swap_twins)
    path = out / "dataset_demo.json"
    write_text_atomic(path, json.dumps(meta))  # a half-written dataset is never picked up
    return path


def demo_splits(n_images: int) -> tuple[int, int]:
    """(n_val, n_test) for a demo of ``n_images``: 200 each, or a quarter each for small demos."""
    k = min(200, n_images // 4)
    return k, k


def ensure_demo(n_images: int = 3000, seed: int = 0, out_dir: str | Path | None = None,
                progress: bool = False, twins: float = DEMO_TWINS, colour_twins: float = DEMO_COLOUR_TWINS,
                swap_twins: float = 0.0) -> Path:
    """The demo's ``dataset_demo.json``, generated on first use (or when its parameters changed).

    The default 3,000-image demo lives in ``default_demo_dir()``; other sizes in
    ``demo-<n>`` beside it, so a small test demo never replaces the full one.
    """
    if out_dir is None:
        out_dir = default_demo_dir()
        if n_images != 3000:
            out_dir = out_dir.with_name(f"demo-{n_images}")
    out = Path(out_dir)
    path = out / "dataset_demo.json"
    ok = False
    if path.exists():
        try:
            head = json.loads(path.read_text())
            ok = ((head.get("version"), head.get("seed"), head.get("n_images"), head.get("twins", 0.0),
                   head.get("colour_twins", 0.0), head.get("swap_twins", 0.0))
                  == (DEMO_VERSION, seed, n_images, twins, colour_twins, swap_twins)
                  and head.get("lexicon") == demo_lexicon())  # written before the lexicon: the same images again
        except (OSError, ValueError, RecursionError):  # unreadable, malformed (JSONDecodeError), too deep
            ok = False
    if not ok:
        n_val, n_test = demo_splits(n_images)
        generate_demo(out, n_images=n_images, seed=seed, n_val=n_val, n_test=n_test, progress=progress,
                      twins=twins, colour_twins=colour_twins, swap_twins=swap_twins)
    return path


def _dataset_json(source: str | Path) -> dict:
    """A dataset's JSON (``demo`` / ``demo:N`` generated on first use, or a ``.json`` file), or ``{}``."""
    src = str(source)
    if src == "demo" or src.startswith("demo:"):
        path = ensure_demo(int(src.split(":", 1)[1]) if ":" in src else 3000)
    elif src.lower().endswith(".json") and Path(src).is_file():
        path = Path(src)
    else:
        return {}
    data = read_json(path, max_bytes=MAX_DATASET_BYTES)
    return data if isinstance(data, dict) else {}


def dataset_lexicon(source: str | Path) -> dict[str, str]:
    """A dataset JSON's ``lexicon`` (word or phrase -> canonical word: :func:`demo_lexicon` for the demo),
    its string entries only; ``{}`` for a dataset without one (real captions: their words as written)."""
    lex = _dataset_json(source).get("lexicon")
    return {k: v for k, v in lex.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(lex, dict) else {}


def dataset_scenes(source: str | Path) -> dict[str, dict]:
    """Each image's generated ``scene`` (background and things) by image id, for a dataset that
    has them: ``demo`` / ``demo:N`` (generated on first use) or a Karpathy-layout JSON written by
    :func:`generate_demo`. ``{}`` for any other dataset (real photos have no scene)."""
    items = _dataset_json(source).get("images")
    out: dict[str, dict] = {}
    for it in items if isinstance(items, list) else []:
        if isinstance(it, dict) and isinstance(it.get("scene"), dict) and isinstance(it.get("filename"), str):
            rel = f"{it['filepath']}/{it['filename']}" if it.get("filepath") else it["filename"]
            out[rel] = it["scene"]
    return out
