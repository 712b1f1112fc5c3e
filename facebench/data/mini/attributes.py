"""Attribute sampling for the mini set: the families, their values and how often each occurs.

Dependent families (the dict holds only families that are visible):
- ``hair_length == "bald"``  → no ``hair_color`` and no ``hair_texture``;
- ``eyewear == "sunglasses"`` → no ``eye_color`` (the lenses hide the eyes).
Every other family is always present; "none" values are stated explicitly in captions
("not wearing glasses", "clean-shaven", ...).
"""
from __future__ import annotations

import random

ATTRIBUTE_FAMILIES: dict[str, tuple[str, ...]] = {
    "hair_color": ("black", "brown", "blonde", "red", "gray"),
    "hair_length": ("bald", "short", "long"),
    "hair_texture": ("straight", "curly"),
    "eye_color": ("brown", "blue", "green"),
    "eyewear": ("none", "glasses", "sunglasses"),
    "hat": ("none", "cap", "beanie"),
    "earrings": ("none", "earrings"),
    "facial_hair": ("none", "beard", "mustache"),
    "expression": ("neutral", "smiling", "surprised"),
    "lipstick": ("none", "red"),
    "skin_tone": ("light", "medium", "tan", "dark"),
    "face_shape": ("oval", "round", "square"),
    "shirt_color": ("black", "white", "red", "blue", "green"),
    "background": ("white", "blue", "green", "gray"),
}

# Sampling weights (uniform when a family is absent here).
_WEIGHTS: dict[str, tuple[float, ...]] = {
    "hair_length": (0.16, 0.44, 0.40),
    "eyewear": (0.50, 0.28, 0.22),
    "hat": (0.56, 0.22, 0.22),
    "earrings": (0.60, 0.40),
    "facial_hair": (0.58, 0.21, 0.21),
    "lipstick": (0.68, 0.32),
}


def _hidden(attrs: dict[str, str]) -> set[str]:
    """Families that are not visible given the others (see the module docstring)."""
    out = set()
    if attrs.get("hair_length") == "bald":
        out |= {"hair_color", "hair_texture"}
    if attrs.get("eyewear") == "sunglasses":
        out.add("eye_color")
    return out


def sample_attributes(rng: random.Random) -> dict[str, str]:
    """One face's attributes; every family is drawn (fixed rng use), hidden ones then dropped."""
    attrs = {}
    for fam, values in ATTRIBUTE_FAMILIES.items():
        attrs[fam] = rng.choices(values, weights=_WEIGHTS.get(fam, [1.0] * len(values)))[0]
    for fam in _hidden(attrs):
        del attrs[fam]
    return attrs
