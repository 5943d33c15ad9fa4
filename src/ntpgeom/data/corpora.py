"""Two small built-in corpora mirroring the paper's experiments (theory.md §6), written with our own words.

- ``synthetic``: 16 hand-made five-word contexts, 30 next tokens, 3 next tokens per context; some contexts share a
  support (with different probabilities), ℋ ≈ 1.02.
- ``stories``: "simplified stories", about 400 (413) five-word story-opening contexts generated from 32 templates by
  synonym substitution, so that 31 distinct supports (sizes 1-8) are shared by many contexts; about 100 (102) next tokens, ℋ ≈ 1.41.

Both are deterministic (``stories`` takes a seed for its counts and for which synonym combinations are kept).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from .pairs import from_pairs
from .dataset import NTPData
from .dataset import load as load_file

# (context, next tokens in order of decreasing count)
_SYNTHETIC: list[tuple[str, tuple[str, str, str]]] = [
    ("the cat sat on the", ("mat", "rug", "floor")),
    ("the dog sat on the", ("rug", "floor", "mat")),
    ("she went to the old", ("house", "barn", "mill")),
    ("he went to the old", ("mill", "house", "barn")),
    ("we ate some fresh warm", ("bread", "soup", "pie")),
    ("they ate some fresh warm", ("pie", "bread", "soup")),
    ("the bird flew over the", ("hill", "river", "barn")),
    ("the kite flew over the", ("river", "barn", "hill")),
    ("my friend likes to play", ("ball", "chess", "music")),
    ("her brother likes to play", ("games", "ball", "cards")),
    ("at night the moon was", ("bright", "full", "pale")),
    ("in winter the sky was", ("grey", "dark", "pale")),
    ("the little boy said he", ("was", "could", "would")),
    ("the little girl said she", ("was", "felt", "could")),
    ("the old man drank his", ("tea", "coffee", "soup")),
    ("the young woman read her", ("book", "letter", "poem")),
]


def synthetic() -> NTPData:
    """The built-in "synthetic" corpus: m = 16, V = 30, k_j = 3, counts (2,1,1) and (3,2,1) alternately."""
    records = []
    for j, (ctx, nxt) in enumerate(_SYNTHETIC):
        pattern = (2, 1, 1) if j % 2 == 0 else (3, 2, 1)
        records += [(ctx, tok, c) for tok, c in zip(nxt, pattern)]
    return from_pairs(records, meta={"source": "builtin:synthetic", "context_len": 5})


_SLOTS: dict[str, list[str]] = {
    "NAME": ["lily", "tom", "max", "sue", "ben", "mia", "sam"],
    "KID": ["girl", "boy", "kid", "child"],
    "PET": ["dog", "cat", "puppy", "kitten", "bunny"],
    "BIG": ["big", "large", "huge", "giant"],
    "HAPPY": ["happy", "glad", "joyful", "cheerful"],
    "SAD": ["sad", "upset", "unhappy"],
    "LITTLE": ["little", "small", "tiny"],
    "MOM": ["mom", "mother", "mommy"],
    "SAW": ["saw", "found", "spotted"],
    "PARK": ["park", "garden", "yard", "field"],
    "SUNNY": ["sunny", "bright", "warm", "nice"],
    "BEST": ["best", "good", "true"],
}

# 32 templates (five words; upper-case words are synonym slots) and their next-token supports.
_TEMPLATES: list[tuple[str, tuple[str, ...]]] = [
    ("one day a LITTLE KID", ("named", "saw", "went", "wanted", "found", "was")),
    ("the LITTLE KID was very", ("happy", "sad", "tired", "hungry", "scared")),
    ("NAME and her MOM went", ("to", "outside", "home", "shopping", "inside")),
    ("NAME saw a BIG PET", ("in", "and", "with", "on")),
    ("the PET was very HAPPY", ("and", "because", "to")),
    ("the PET was very SAD", ("and", "because")),
    ("NAME wanted to play with", ("her", "his", "the", "a")),
    ("they played in the PARK", ("all", "and", "with", "until", "together", "every")),
    ("she SAW a LITTLE PET", ("in", "under", "near")),
    ("he SAW a BIG PET", ("in", "under", "near")),
    ("MOM said it was time", ("to", "for")),
    ("NAME felt very HAPPY and", ("smiled", "laughed", "hugged", "thanked")),
    ("NAME felt very SAD and", ("cried", "sighed")),
    ("the BIG PET ran to", ("the", "her", "him", "its")),
    ("after that the KID was", ("never", "always", "very")),
    ("the LITTLE PET did not", ("want", "like", "know", "see", "eat")),
    ("NAME looked up at the", ("sky", "sun", "moon", "tree", "bird", "stars", "clouds", "kite")),
    ("it was a SUNNY day", ("and", "in", "at")),
    ("NAME ran to the PARK", ("to", "and", "with")),
    ("the KID gave the PET", ("a", "some", "the", "food", "water")),
    ("the KID and the PET", ("played", "became", "were", "ran", "went", "loved")),
    ("NAME had a LITTLE PET", ("named", "who", "that")),
    ("MOM gave NAME a BIG", ("hug", "smile", "kiss", "cake", "present")),
    ("they were BEST friends and", ("played", "lived")),
    ("NAME was so HAPPY that", ("she", "he", "they")),
    ("the KID found a shiny", ("rock", "coin", "key", "ball", "shell", "box", "stone", "ring")),
    ("NAME and the PET played", ("together", "all", "in")),
    ("the BIG tree in the", ("park", "garden", "yard", "forest", "middle")),
    ("the LITTLE KID wanted to", ("play", "go", "help", "see", "eat", "fly", "swim")),
    ("one day NAME SAW a", ("big", "little", "shiny", "red", "small", "funny")),
    ("the LITTLE KID said goodnight", ("to",)),
    ("NAME said thank you to", ("her", "his", "the", "mom", "everyone")),
]


def stories(seed: int = 0, max_per_template: int = 18) -> NTPData:
    """The built-in "simplified stories" corpus.

    Each template expands over its synonym slots (at most ``max_per_template`` combinations, a seeded sample);
    every generated context is followed by its template's support, with counts that decay along the support
    (Zipf-like) times seeded random factors, so contexts sharing a support differ in their probabilities.
    """
    rng = np.random.default_rng(seed)
    records = []
    seen: set[str] = set()
    for template, support in _TEMPLATES:
        words = template.split()
        options = [_SLOTS.get(w, [w]) for w in words]
        combos = list(itertools.product(*options))
        if len(combos) > max_per_template:
            pick = np.sort(rng.choice(len(combos), size=max_per_template, replace=False))
            combos = [combos[i] for i in pick]
        for combo in combos:
            ctx = " ".join(combo)
            assert ctx not in seen, f"duplicate built-in context {ctx!r}"
            seen.add(ctx)
            base = 12.0 / np.arange(1, len(support) + 1) ** 0.25
            counts = np.maximum(1, np.round(base * rng.uniform(0.5, 1.5, size=len(support)))).astype(int)
            records += [(ctx, tok, int(c)) for tok, c in zip(support, counts)]
    meta = {"source": "builtin:stories", "context_len": 5, "seed": seed, "generator": {"max_per_template": max_per_template}}
    return from_pairs(records, meta=meta)


BUILTIN = {"synthetic": synthetic, "stories": stories}


def load(path: str | Path) -> NTPData:
    """A dataset file written by :meth:`NTPData.save`, or a built-in corpus by name.

    Parameters
    ----------
    path : path or str
        A ``.npz`` dataset file, or ``"synthetic"`` / ``"stories"`` when no file of that name exists.

    Returns
    -------
    NTPData
        Fully validated (see :func:`ntpgeom.data.dataset.load`).

    Raises
    ------
    NTPDataError, FormatError
        No such file or corpus; a damaged file, a wrong format version or hash.

    Examples
    --------
    >>> import ntpgeom as g
    >>> g.load("synthetic").m
    16
    """
    if not Path(path).exists() and str(path) in BUILTIN:
        return BUILTIN[str(path)]()
    return load_file(path)
