"""The bundled offline mini benchmark: synthetic cartoon faces drawn from exact attributes.

Every image is drawn with PIL from an explicit attribute dict, so captions, VQA answers and
attribute accuracy are exact, and the whole set is rebuilt byte-identically from a seed (no
download). Large-area attributes (background, shirt, skin, hair) are large flat colour regions,
so pixel-space neighbours tend to share them.

Dependent families (the dict holds only families that are visible):
- ``hair_length == "bald"``  → no ``hair_color`` and no ``hair_texture``;
- ``eyewear == "sunglasses"`` → no ``eye_color`` (the lenses hide the eyes).
Every other family is always present; "none" values are stated explicitly in captions
("not wearing glasses", "clean-shaven", ...).
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import secrets
import shutil
import socket
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from facebench.data.local import LocalDataset
from facebench.errors import DatasetError
from facebench.hashing import canonical_json, sha256_file, sha256_text
from facebench.types import QA

MINI_VERSION = "1"
MANIFEST = "MANIFEST.json"
SPLITS = ("test", "gallery")

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


# ------------------------------------------------------------------------------------------------
# Drawing
# ------------------------------------------------------------------------------------------------

RGB = tuple[int, int, int]

_SKIN: dict[str, RGB] = {"light": (250, 222, 198), "medium": (226, 178, 136), "tan": (186, 128, 84),
                         "dark": (108, 70, 46)}
_HAIR: dict[str, RGB] = {"black": (28, 26, 30), "brown": (110, 64, 32), "blonde": (238, 204, 112),
                         "red": (196, 74, 30), "gray": (182, 182, 188)}
_EYE: dict[str, RGB] = {"brown": (112, 62, 26), "blue": (52, 128, 230), "green": (44, 168, 72)}
_SHIRT: dict[str, RGB] = {"black": (34, 34, 40), "white": (246, 246, 246), "red": (206, 42, 44),
                          "blue": (42, 88, 206), "green": (44, 150, 66)}
_BACKGROUND: dict[str, RGB] = {"white": (250, 250, 250), "blue": (156, 196, 242), "green": (168, 222, 164),
                               "gray": (138, 138, 144)}
_HAT_COLORS: tuple[RGB, ...] = ((112, 44, 146), (232, 124, 28), (28, 124, 128), (60, 62, 96), (150, 150, 40))
_LIPSTICK: RGB = (212, 16, 44)
_ZOOM = 1.14  # face scale relative to the canvas
_INK: RGB = (34, 28, 30)


def _clamp(c: float) -> int:
    return max(0, min(255, int(round(c))))


def _shift(c: RGB, d: float) -> RGB:
    return (_clamp(c[0] + d), _clamp(c[1] + d), _clamp(c[2] + d))


def _scale(c: RGB, f: float) -> RGB:
    return (_clamp(c[0] * f), _clamp(c[1] * f), _clamp(c[2] * f))


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return (_clamp(a[0] + (b[0] - a[0]) * t), _clamp(a[1] + (b[1] - a[1]) * t), _clamp(a[2] + (b[2] - a[2]) * t))


def _luma(c: RGB) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def _outline_of(c: RGB) -> RGB:
    """A darker version of a fill, for cartoon outlines (light fills get a clearly darker line)."""
    return _scale(c, 0.55) if sum(c) > 150 else _shift(c, -22)


class _Face:
    """Geometry of one face on a ``C``×``C`` canvas; lengths are in units of ``S`` pixels
    (``S`` > ``C`` zooms in on the face)."""

    def __init__(self, attrs: dict[str, str], C: int, S: float, rng: random.Random):
        self.S = S
        j = lambda a: rng.uniform(-a, a)  # noqa: E731
        shape = attrs.get("face_shape", "oval")
        w, h = {"oval": (0.39, 0.52), "round": (0.49, 0.47), "square": (0.46, 0.49)}[shape]
        k = 1.0 + j(0.035)
        self.w, self.h = w * k * S, h * k * S
        self.cx = (0.5 + j(0.022)) * C
        self.cy = (0.47 + j(0.015)) * C
        self.shape = shape
        self.box = (self.cx - self.w / 2, self.cy - self.h / 2, self.cx + self.w / 2, self.cy + self.h / 2)
        self.eye_dx = (0.088 + j(0.006)) * S * (self.w / (0.44 * S)) ** 0.5
        self.eye_y = self.cy + (-0.005 + j(0.008)) * S
        self.mouth_y = self.cy + self.h * (0.30 + j(0.015))
        self.nose_y = self.cy + self.h * 0.14
        self.tilt = j(0.012) * S  # small brow / parting asymmetry

    def head(self, draw, fill, outline=None, width=0, grow: float = 0.0, top_grow: float = 0.0,
             bottom_grow: float | None = None) -> None:
        g, S = grow * self.S, self.S
        bg = g if bottom_grow is None else bottom_grow * S
        x0, y0, x1, y1 = self.box
        box = (x0 - g, y0 - g - top_grow * S, x1 + g, y1 + bg)
        if self.shape == "square":
            r = 0.11 * S + g
            draw.rounded_rectangle(box, radius=r, fill=fill, outline=outline, width=width)
        else:
            draw.ellipse(box, fill=fill, outline=outline, width=width)


def _paste_masked(canvas, color_layer, mask, outline: RGB | None, width: int, keep_out=None) -> None:
    """Paste ``color_layer`` through ``mask``, after an outline made by dilating the mask (no
    outline inside ``keep_out``). Works on the mask's bounding box only (full-canvas pastes
    dominate the drawing time)."""
    from PIL import ImageChops, ImageFilter

    bbox = mask.getbbox()
    if bbox is None:
        return
    m = width + 2
    box = (max(0, bbox[0] - m), max(0, bbox[1] - m), min(canvas.width, bbox[2] + m), min(canvas.height, bbox[3] + m))
    sub = mask.crop(box)
    if outline is not None and width > 0:
        # dilation by a box blur + threshold: linear time, unlike a rank (max) filter
        grown = sub.filter(ImageFilter.BoxBlur(width)).point(lambda v: 255 if v > 4 else 0)
        if keep_out is not None:
            grown = ImageChops.subtract(grown, keep_out.crop(box))
        canvas.paste(outline, box, grown)
    canvas.paste(color_layer.crop(box), box[:2], sub)


@lru_cache(maxsize=4)
def _curl_texture(S: int):
    """A field of loose ringlet strokes (L mask), drawn once per canvas size (fixed seed):
    redrawing hundreds of arcs per face dominated the build time."""
    from PIL import Image, ImageDraw

    rng = random.Random(7)
    step = 0.05 * S
    lw = max(1, int(0.007 * S))
    big = int(S + 2 * step)
    tex = Image.new("L", (big, big), 0)
    d = ImageDraw.Draw(tex)
    y, row = -step, 0
    while y < big + step:
        x = -step + (step / 2 if row % 2 else 0.0)
        while x < big + step:
            r = step * rng.uniform(0.36, 0.5)
            cx, cy = x + rng.uniform(-0.15, 0.15) * step, y + rng.uniform(-0.15, 0.15) * step
            a0 = rng.uniform(0, 360)
            d.arc((cx - r, cy - r, cx + r, cy + r), start=a0, end=a0 + rng.uniform(220, 300), fill=255, width=lw)
            x += step
        y += step * 0.82
        row += 1
    return tex, int(step)


def _hair_layer(S: int, color: RGB, texture: str, rng: random.Random):
    """A full-canvas hair-coloured layer with strands (straight) or ringlets (curly) on it; the
    same layer serves the hair behind and on the head so their textures line up."""
    from PIL import Image, ImageDraw

    layer = Image.new("RGB", (S, S), color)
    dark = _scale(color, 0.72) if sum(color) > 200 else _shift(color, 30)
    if texture == "curly":
        tex, step = _curl_texture(S)
        ox, oy = rng.randrange(step), rng.randrange(step)
        layer.paste(dark, (0, 0), tex.crop((ox, oy, ox + S, oy + S)))
        return layer
    d = ImageDraw.Draw(layer)
    lw = max(1, int(0.006 * S))
    x = rng.uniform(0, 0.04 * S)
    while x < S:
        bend = rng.uniform(-0.03, 0.03) * S
        d.line([(x, 0), (x + bend, S / 2), (x, S)], fill=dark, width=lw)
        x += 0.045 * S
    return layer


def _bumps(draw, cx: float, cy: float, a: float, b: float, start: float, end: float, r: float, n: int) -> None:
    """Circles along an elliptic arc: the bumpy silhouette of curly hair."""
    import math

    for i in range(n + 1):
        t = math.radians(start + (end - start) * i / n)
        x, y = cx + a * math.cos(t), cy + b * math.sin(t)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=255)


def render_face(attrs: dict[str, str], size: int = 128, seed: int = 0):
    """Draw the face described by ``attrs`` as a ``size``×``size`` RGB image.

    Drawn at 4× and box-downsampled (smooth edges); ``seed`` adds a small jitter of position, size and
    shade so equal attributes do not give equal images. Deterministic for equal inputs."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    C = size * 4
    S = C * _ZOOM
    f = _Face(attrs, C, S, rng)
    px = lambda v: max(1, int(round(v * S)))  # noqa: E731
    LW = px(0.011)

    skin = _shift(_SKIN[attrs.get("skin_tone", "light")], rng.uniform(-7, 7))
    skin_line = _scale(skin, 0.62)
    hair_len = attrs.get("hair_length", "short")
    hair_name = attrs.get("hair_color")
    hair = _shift(_HAIR[hair_name] if hair_name else _HAIR["brown"], rng.uniform(-8, 8))
    texture = attrs.get("hair_texture", "straight")
    bg = _shift(_BACKGROUND[attrs.get("background", "white")], rng.uniform(-6, 6))
    shirt = _shift(_SHIRT[attrs.get("shirt_color", "blue")], rng.uniform(-6, 6))
    hat_color = rng.choice(_HAT_COLORS)
    # facial hair and brows follow the hair colour; a bald person gets a dark one
    body_hair = hair if hair_name else _shift(rng.choice((_HAIR["black"], _HAIR["brown"])), rng.uniform(-6, 6))
    if abs(_luma(body_hair) - _luma(skin)) < 45:  # keep beard and brows visible on similar skin
        body_hair = _scale(body_hair, 0.5) if _luma(skin) < 140 else _scale(body_hair, 0.7)

    canvas = Image.new("RGB", (C, C), bg)
    d = ImageDraw.Draw(canvas)
    x0, y0, x1, y1 = f.box

    # -- long hair behind the head ----------------------------------------------------------------
    hair_layer = _hair_layer(C, hair, texture, rng) if hair_len != "bald" else None
    back_mask = None
    if hair_len == "long":
        mask = back_mask = Image.new("L", (C, C), 0)
        md = ImageDraw.Draw(mask)
        bx = (x0 - 0.06 * S, y0 - 0.045 * S, x1 + 0.06 * S, y1 + 0.22 * S)
        md.rounded_rectangle(bx, radius=(bx[2] - bx[0]) / 2.2, fill=255)
        if texture == "curly":
            r = 0.03 * S
            ys = [bx[1] + (bx[3] - bx[1]) * t for t in (0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95)]
            for yy in ys:
                for xx in (bx[0], bx[2]):
                    md.ellipse((xx - r, yy - r, xx + r, yy + r), fill=255)
        _paste_masked(canvas, hair_layer, mask, _outline_of(hair), px(0.006))

    # -- neck and shirt ---------------------------------------------------------------------------
    neck_w = 0.16 * S
    shirt_top = y1 + 0.055 * S
    d.rectangle((f.cx - neck_w / 2, y1 - 0.12 * S, f.cx + neck_w / 2, shirt_top + 0.05 * S),
                fill=_scale(skin, 0.9), outline=skin_line, width=LW)
    d.ellipse((f.cx - 0.46 * S, shirt_top, f.cx + 0.46 * S, shirt_top + 0.62 * S),
              fill=shirt, outline=_outline_of(shirt), width=LW)
    d.chord((f.cx - neck_w / 2 - 0.01 * S, shirt_top - 0.06 * S, f.cx + neck_w / 2 + 0.01 * S, shirt_top + 0.07 * S),
            start=0, end=180, fill=_scale(skin, 0.9), outline=_outline_of(shirt), width=LW)

    # -- ears -------------------------------------------------------------------------------------
    ear_w, ear_h = 0.065 * S, 0.11 * S
    ear_y = f.eye_y + 0.03 * S
    inset = 0.012 * S if f.shape != "oval" else 0.006 * S
    ears = []
    for side in (-1, 1):
        ex = (x0 + inset) if side < 0 else (x1 - inset)
        box = (ex - ear_w / 2, ear_y - ear_h / 2, ex + ear_w / 2, ear_y + ear_h / 2)
        d.ellipse(box, fill=skin, outline=skin_line, width=LW)
        ears.append((ex, ear_y + ear_h / 2))
    # -- head ---------------------------------------------------------------------------------------
    f.head(d, fill=skin, outline=skin_line, width=LW)
    for side in (-1, 1):  # inner ear line, drawn after the head so it sits on the visible lobe
        ex = ears[0 if side < 0 else 1][0] + side * 0.012 * S
        d.arc((ex - 0.018 * S, ear_y - 0.03 * S, ex + 0.018 * S, ear_y + 0.03 * S),
              start=90 if side > 0 else -90, end=270 if side > 0 else 90, fill=skin_line, width=px(0.005))

    # -- hair on the head ---------------------------------------------------------------------------
    if hair_len != "bald":
        mask = Image.new("L", (C, C), 0)
        md = ImageDraw.Draw(mask)
        f.head(md, fill=255, grow=0.022, top_grow=0.035)
        if texture == "curly":
            _bumps(md, f.cx, f.cy, f.w / 2 + 0.03 * S, f.h / 2 + 0.05 * S, 180, 360, 0.032 * S, 12)
        hair_line = y0 + f.h * (0.2 if hair_len == "short" else 0.18)
        # cut out the face below a rounded hairline, leaving sideburns at both sides
        md.ellipse((x0 + 0.05 * S + f.tilt, hair_line, x1 - 0.05 * S + f.tilt, hair_line + 1.6 * f.h), fill=0)
        md.rectangle((0, f.eye_y - 0.005 * S, C, C), fill=0)
        _paste_masked(canvas, hair_layer, mask, _outline_of(hair), px(0.006), keep_out=back_mask)

    # -- beard (under the mouth, which is drawn on top) --------------------------------------------
    facial = attrs.get("facial_hair", "none")
    beard_line = _outline_of(body_hair)
    if facial == "beard":
        mask = Image.new("L", (C, C), 0)
        md = ImageDraw.Draw(mask)
        f.head(md, fill=255, grow=0.004, bottom_grow=0.03)
        md.rectangle((0, 0, C, ear_y - 0.02 * S), fill=0)
        # cheeks stay bare: the beard is a band along the jaw that widens at the chin
        ry = f.mouth_y - 0.01 * S - f.eye_y
        md.ellipse((f.cx - f.w * 0.4, f.eye_y - ry, f.cx + f.w * 0.4, f.mouth_y - 0.01 * S), fill=0)
        md.ellipse((f.cx - 0.062 * S, f.mouth_y - 0.035 * S, f.cx + 0.062 * S, f.mouth_y + 0.04 * S), fill=0)
        layer = Image.new("RGB", (C, C), body_hair)
        ld = ImageDraw.Draw(layer)
        dots = _scale(body_hair, 0.75) if sum(body_hair) > 200 else _shift(body_hair, 28)
        for _ in range(140):
            x, y = rng.uniform(x0, x1), rng.uniform(f.nose_y, y1 + 0.03 * S)
            ld.line((x, y, x + rng.uniform(-3, 3), y + 0.012 * S), fill=dots, width=px(0.004))
        _paste_masked(canvas, layer, mask, beard_line, px(0.005))

    # -- brows, eyes, glasses -----------------------------------------------------------------------
    expression = attrs.get("expression", "neutral")
    brow = _scale(body_hair, 0.8) if sum(body_hair) > 300 else body_hair
    brow_lift = 0.035 * S if expression == "surprised" else 0.0
    eye_w, eye_h = 0.088 * S, 0.062 * S
    iris_r = 0.024 * S
    iris = _shift(_EYE[attrs.get("eye_color", "brown")], rng.uniform(-8, 8))
    eyewear = attrs.get("eyewear", "none")
    for side in (-1, 1):
        ex = f.cx + side * f.eye_dx
        by = f.eye_y - 0.062 * S - brow_lift + (f.tilt * 0.3 if side > 0 else 0)
        d.arc((ex - 0.055 * S, by, ex + 0.055 * S, by + 0.06 * S), start=200, end=340, fill=brow, width=px(0.016))
        if eyewear != "sunglasses":
            eh = eye_h * (1.2 if expression == "surprised" else 1.0)
            d.ellipse((ex - eye_w / 2, f.eye_y - eh / 2, ex + eye_w / 2, f.eye_y + eh / 2),
                      fill=(252, 252, 252), outline=_INK, width=px(0.007))
            d.ellipse((ex - iris_r, f.eye_y - iris_r, ex + iris_r, f.eye_y + iris_r), fill=iris)
            pr = 0.0095 * S
            d.ellipse((ex - pr, f.eye_y - pr, ex + pr, f.eye_y + pr), fill=(12, 12, 14))
            hr = 0.006 * S
            d.ellipse((ex + 0.008 * S - hr, f.eye_y - 0.009 * S - hr, ex + 0.008 * S + hr, f.eye_y - 0.009 * S + hr),
                      fill=(255, 255, 255))
            d.arc((ex - eye_w / 2, f.eye_y - eh / 2, ex + eye_w / 2, f.eye_y + eh / 2), start=190, end=350,
                  fill=_INK, width=px(0.012))
    if eyewear != "none":
        frame = (22, 22, 26)
        lens_r = 0.062 * S
        for side in (-1, 1):
            ex = f.cx + side * f.eye_dx
            box = (ex - lens_r, f.eye_y - lens_r * 0.82, ex + lens_r, f.eye_y + lens_r * 0.82)
            if eyewear == "sunglasses":
                d.rounded_rectangle(box, radius=lens_r * 0.55, fill=(20, 22, 28), outline=frame, width=px(0.012))
                d.line((ex - lens_r * 0.45, f.eye_y - lens_r * 0.3, ex - lens_r * 0.1, f.eye_y - lens_r * 0.55),
                       fill=(120, 124, 140), width=px(0.008))
            else:
                d.rounded_rectangle(box, radius=lens_r * 0.55, outline=frame, width=px(0.011))
            arm_x = x0 + inset if side < 0 else x1 - inset
            d.line((ex + side * lens_r, f.eye_y - lens_r * 0.3, arm_x, ear_y - 0.02 * S), fill=frame, width=px(0.009))
        d.line((f.cx - f.eye_dx + lens_r, f.eye_y - lens_r * 0.2, f.cx + f.eye_dx - lens_r, f.eye_y - lens_r * 0.2),
               fill=frame, width=px(0.011))

    # -- nose -----------------------------------------------------------------------------------------
    nw = 0.032 * S
    d.arc((f.cx - nw, f.nose_y - 0.02 * S, f.cx + nw, f.nose_y + 0.03 * S), start=20, end=160,
          fill=skin_line, width=px(0.009))

    # -- mustache (also part of a full beard) ----------------------------------------------------------
    if facial in ("mustache", "beard"):
        my = f.mouth_y - 0.04 * S
        for side in (-1, 1):
            mx0, mx1 = (f.cx - 0.085 * S, f.cx + 0.004 * S) if side < 0 else (f.cx - 0.004 * S, f.cx + 0.085 * S)
            d.chord((mx0, my - 0.026 * S, mx1, my + 0.03 * S), start=180, end=360, fill=body_hair,
                    outline=beard_line, width=px(0.005))

    # -- mouth ----------------------------------------------------------------------------------------
    lipstick = attrs.get("lipstick", "none") == "red"
    lip = _LIPSTICK if lipstick else _mix(_scale(skin, 0.72), (170, 60, 60), 0.35)
    lip_w = px(0.016) if lipstick else px(0.008)
    my = f.mouth_y
    if expression == "smiling":
        box = (f.cx - 0.085 * S, my - 0.045 * S, f.cx + 0.085 * S, my + 0.05 * S)
        d.chord(box, start=0, end=180, fill=(120, 26, 40), outline=lip, width=lip_w)
        d.rectangle((f.cx - 0.062 * S, my + 0.0 * S, f.cx + 0.062 * S, my + 0.014 * S), fill=(250, 250, 250))
        d.arc(box, start=0, end=180, fill=lip, width=lip_w)
        d.line((box[0], my, box[2], my), fill=lip, width=max(1, lip_w // 2))
    elif expression == "surprised":
        box = (f.cx - 0.036 * S, my - 0.03 * S, f.cx + 0.036 * S, my + 0.05 * S)
        d.ellipse(box, fill=(90, 20, 32), outline=lip, width=lip_w)
    else:
        if lipstick:
            d.ellipse((f.cx - 0.06 * S, my - 0.018 * S, f.cx + 0.06 * S, my + 0.022 * S), fill=_LIPSTICK)
            d.line((f.cx - 0.058 * S, my, f.cx + 0.058 * S, my), fill=_scale(_LIPSTICK, 0.55), width=px(0.006))
        else:
            d.line((f.cx - 0.055 * S, my, f.cx + 0.055 * S, my), fill=lip, width=px(0.011))

    # -- earrings -------------------------------------------------------------------------------------
    if attrs.get("earrings") == "earrings":
        gold, gold_dark = (240, 190, 40), (150, 104, 10)
        r = 0.03 * S
        for ex, ey in ears:
            box = (ex - r, ey - 0.008 * S, ex + r, ey + 2 * r - 0.008 * S)
            d.ellipse(box, outline=gold_dark, width=px(0.018))
            d.ellipse(box, outline=gold, width=px(0.011))

    # -- hat ------------------------------------------------------------------------------------------
    hat = attrs.get("hat", "none")
    if hat != "none":
        hat_line = _outline_of(hat_color)
        top = y0 - 0.075 * S
        brim_y = y0 + f.h * 0.2
        hw = f.w / 2 + 0.035 * S
        if hat == "beanie":
            d.chord((f.cx - hw, top, f.cx + hw, brim_y + (brim_y - top)), start=180, end=360, fill=hat_color,
                    outline=hat_line, width=LW)
            band = (f.cx - hw - 0.006 * S, brim_y - 0.055 * S, f.cx + hw + 0.006 * S, brim_y + 0.012 * S)
            d.rounded_rectangle(band, radius=0.02 * S, fill=_scale(hat_color, 0.82), outline=hat_line, width=LW)
            x = band[0] + 0.025 * S
            while x < band[2] - 0.015 * S:
                d.line((x, band[1] + 0.012 * S, x, band[3] - 0.012 * S), fill=hat_line, width=px(0.005))
                x += 0.03 * S
            pr = 0.04 * S
            d.ellipse((f.cx - pr, top - 1.6 * pr, f.cx + pr, top + 0.4 * pr), fill=_shift(hat_color, 40),
                      outline=hat_line, width=LW)
        else:  # cap: crown, front panel seam, button and a brim seen from the front
            d.chord((f.cx - hw, top, f.cx + hw, brim_y + (brim_y - top) * 0.9), start=180, end=360, fill=hat_color,
                    outline=hat_line, width=LW)
            d.line((f.cx, top + 0.01 * S, f.cx, brim_y - 0.01 * S), fill=hat_line, width=px(0.006))
            br = 0.018 * S
            d.ellipse((f.cx - br, top - br * 0.6, f.cx + br, top + br * 1.4), fill=hat_color, outline=hat_line,
                      width=px(0.006))
            brim = (f.cx - hw * 1.08, brim_y - 0.04 * S, f.cx + hw * 1.08, brim_y + 0.075 * S)
            d.chord(brim, start=0, end=180, fill=_scale(hat_color, 0.75), outline=hat_line, width=LW)
            d.line((brim[0], (brim[1] + brim[3]) / 2, brim[2], (brim[1] + brim[3]) / 2), fill=hat_line, width=LW)

    return canvas.reduce(4)


# ------------------------------------------------------------------------------------------------
# Words: captions, the phrase parser, questions
# ------------------------------------------------------------------------------------------------

# Words a caption (or a model) may put between a value word and its head noun
# ("long, curly blonde hair"): only descriptive words, never nouns of other families.
_HAIR_FILL = ("black", "brown", "blonde", "blond", "red", "gray", "grey", "straight", "curly", "long", "short",
              "dark", "light", "thick", "fine", "shiny", "glossy", "neat", "messy", "tidy", "voluminous", "smooth",
              "sleek", "soft", "wavy", "natural", "slightly", "very", "golden", "jet-black", "chestnut", "copper",
              "silver", "tousled", "styled", "cropped", "shoulder-length", "medium-length", "chin-length",
              "bouncy", "tight", "loose", "lustrous", "springy", "flowing", "chestnut-brown", "copper-red",
              "silver-gray", "dark-brown", "platinum", "ash", "honey")
_EYE_FILL = ("brown", "blue", "green", "hazel", "bright", "large", "big", "clear", "striking", "deep", "expressive",
             "round", "almond-shaped", "light", "dark", "warm", "wide", "wide-open", "attentive", "gentle",
             "sparkling", "vivid", "pale", "lively", "alert", "friendly")
_SKIN_FILL = ("light", "fair", "pale", "medium", "olive", "tan", "tanned", "dark", "deep", "smooth", "clear",
              "even", "soft", "warm", "cool", "healthy", "glowing", "radiant", "natural", "porcelain")
_FACE_FILL = ("oval", "round", "square", "soft", "gently", "slightly", "friendly", "symmetrical", "youthful", "wide",
              "broad", "full", "well-proportioned", "defined", "smooth", "shaped", "balanced", "strong", "gentle")
_BG_FILL = ("white", "blue", "green", "gray", "grey", "plain", "solid", "light", "pale", "soft", "simple", "uniform",
            "clean", "pastel", "bright", "muted", "flat", "studio", "even", "smooth", "calm")
_SHIRT_FILL = ("black", "white", "red", "blue", "green", "plain", "simple", "crew-neck", "casual", "bright", "dark",
               "light", "solid", "round-neck", "collarless", "cotton", "pale", "deep", "simple", "vivid")
_FILL: dict[str, tuple[str, ...]] = {
    "hair_color": _HAIR_FILL, "hair_length": _HAIR_FILL, "hair_texture": _HAIR_FILL, "eye_color": _EYE_FILL,
    "skin_tone": _SKIN_FILL, "face_shape": _FACE_FILL, "background": _BG_FILL, "shirt_color": _SHIRT_FILL,
}

_SHIRT_NOUNS = ("shirt", "t-shirt", "top", "sweater", "jumper", "tee", "clothing", "clothes", "outfit", "garment",
                "sweatshirt", "blouse")


def _heads(words: tuple[str, ...], nouns: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{w} {n}" for w in words for n in nouns)


_PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "hair_color": {
        "black": ("black hair", "jet-black hair", "raven hair", "black-haired", "hair is black"),
        "brown": ("brown hair", "brunette hair", "chestnut hair", "brunette", "brown-haired", "hair is brown"),
        "blonde": ("blonde hair", "blond hair", "golden hair", "blonde-haired", "blond-haired", "hair is blonde",
                   "hair is blond"),
        "red": ("red hair", "ginger hair", "auburn hair", "copper hair", "redhead", "red-haired", "ginger-haired",
                "hair is red", "hair is ginger"),
        "gray": ("gray hair", "grey hair", "silver hair", "white hair", "gray-haired", "grey-haired",
                 "silver-haired", "hair is gray", "hair is grey"),
    },
    "hair_length": {
        "bald": ("bald", "bald head", "shaved head", "hairless head", "no hair"),
        "short": ("short hair", "short-haired", "cropped hair", "buzz cut", "crew cut", "hair is short"),
        "long": ("long hair", "long-haired", "shoulder-length hair", "flowing hair", "hair is long"),
    },
    "hair_texture": {
        "straight": ("straight hair", "sleek hair", "hair is straight", "straight texture"),
        "curly": ("curly hair", "curled hair", "coily hair", "ringlets", "afro", "curls", "hair is curly",
                  "curly texture"),
    },
    "eye_color": {
        "brown": _heads(("brown", "hazel", "amber"), ("eyes", "irises")) + ("brown-eyed", "eyes are brown"),
        "blue": _heads(("blue",), ("eyes", "irises")) + ("blue-eyed", "eyes are blue"),
        "green": _heads(("green",), ("eyes", "irises")) + ("green-eyed", "eyes are green"),
    },
    "eyewear": {
        "none": ("no glasses", "no eyeglasses", "no spectacles", "no eyewear", "without glasses", "without eyewear",
                 "without eyeglasses", "not wearing glasses", "not wearing any glasses", "not wearing eyeglasses",
                 "not wearing eyewear", "not wearing any eyewear", "does not wear glasses",
                 "doesn't wear glasses", "wears no glasses", "wear no glasses"),
        "glasses": ("glasses", "eyeglasses", "spectacles", "prescription glasses", "clear glasses",
                    "reading glasses"),
        "sunglasses": ("sunglasses", "sun glasses", "sun-glasses", "dark glasses", "tinted glasses", "dark lenses",
                       "tinted lenses"),
    },
    "hat": {
        "none": ("no hat", "no headwear", "no head covering", "without a hat", "without any hat",
                 "not wearing a hat", "not wearing any hat", "bareheaded", "bare-headed", "bare head",
                 "nothing on their head", "without headwear", "not wearing any headwear"),
        "cap": ("cap", "baseball cap", "peaked cap", "ball cap", "snapback", "visor cap"),
        "beanie": ("beanie", "knit hat", "knitted hat", "knit cap", "knitted cap", "wool hat", "woolly hat",
                   "woollen hat", "winter hat", "bobble hat", "toque", "beanie hat"),
    },
    "earrings": {
        "none": ("no earrings", "without earrings", "not wearing earrings", "not wearing any earrings",
                 "wears no earrings", "no jewelry", "no jewellery", "bare earlobes", "without any earrings"),
        "earrings": ("earrings", "earring", "hoop earrings", "hoops"),
    },
    "facial_hair": {
        "none": ("clean-shaven", "clean shaven", "no facial hair", "beardless", "without facial hair",
                 "no beard or mustache", "no beard or moustache", "no beard and no mustache",
                 "smooth-shaven", "no stubble"),
        "beard": ("beard", "bearded", "full beard", "beard and mustache", "beard and moustache", "goatee"),
        "mustache": ("mustache", "moustache", "mustached", "moustached"),
    },
    "expression": {
        "neutral": ("neutral expression", "neutral facial expression", "neutral look", "neutral face",
                    "serious expression", "calm expression", "straight face", "expressionless", "not smiling",
                    "blank expression", "without a smile", "no smile", "impassive", "composed expression"),
        "smiling": ("smiling", "smile", "smiles", "grin", "grinning", "grins", "happy expression",
                    "cheerful expression", "beaming"),
        "surprised": ("surprised", "surprise", "astonished", "astonishment", "shocked", "amazed", "mouth open",
                      "open mouth", "open-mouthed", "mouth wide open", "mouth agape", "gasping"),
    },
    "lipstick": {
        "none": ("no lipstick", "without lipstick", "not wearing lipstick", "not wearing any lipstick",
                 "wears no lipstick", "no makeup", "no make-up", "bare lips", "natural lips", "unpainted lips",
                 "natural lip color", "natural lip colour", "without makeup"),
        "red": ("lipstick", "red lipstick", "red lips", "painted lips", "lips painted", "crimson lips"),
    },
    "skin_tone": {
        "light": _heads(("light", "fair", "pale", "porcelain"), ("skin", "complexion"))
        + ("light-skinned", "fair-skinned", "pale-skinned"),
        "medium": _heads(("medium", "olive", "medium-toned"), ("skin", "complexion")) + ("medium-skinned",),
        "tan": _heads(("tan", "tanned", "bronzed", "sun-tanned"), ("skin", "complexion")) + ("tan-skinned",),
        "dark": _heads(("dark", "deep", "dark brown", "deep brown", "ebony"), ("skin", "complexion"))
        + ("dark-skinned",),
    },
    "face_shape": {
        "oval": ("oval face", "oval-shaped face", "oval face shape", "egg-shaped face"),
        "round": ("round face", "rounded face", "round-shaped face", "circular face", "round face shape"),
        "square": ("square face", "square-shaped face", "squared face", "square jaw", "square jawline",
                   "square face shape", "angular face", "boxy face"),
    },
    "shirt_color": {
        c: _heads((c,), _SHIRT_NOUNS) + (f"dressed in {c}", f"shirt is {c}") for c in ATTRIBUTE_FAMILIES["shirt_color"]
    },
    "background": {
        c: _heads((c,) + (("grey",) if c == "gray" else ()), ("background", "backdrop"))
        + tuple(f"background is {w}" for w in ((c, "grey") if c == "gray" else (c,)))
        for c in ATTRIBUTE_FAMILIES["background"]
    },
}


def attribute_phrases() -> dict[str, dict[str, tuple[str, ...]]]:
    """Family → value → the phrases that state it (lower case), as the parser reads them.

    In families with a head noun (hair, eyes, skin, face, shirt, background) a few descriptive
    words may sit before the last word of a phrase: "long hair" also matches "long, curly blonde hair"."""
    return {fam: dict(vals) for fam, vals in _PHRASES.items()}


# A value phrase preceded by a negation ("not wearing a cap", "no visible earrings") states nothing.
_NEG_GAP = ("wearing", "wear", "wears", "have", "has", "having", "a", "an", "any", "the", "visible", "sign", "signs",
            "of", "apparent", "obvious", "noticeable", "signs", "trace", "traces")
_NEGATION = re.compile(
    r"\b(?:no|not|without|never|nor|neither|isn't|aren't|doesn't|don't|lacks|lacking)"
    r"(?:\s+(?:" + "|".join(_NEG_GAP) + r")){0,3}\s+$"
)


def _phrase_regex(phrase: str, fill: tuple[str, ...] | None) -> str:
    tokens = phrase.split()
    if fill and len(tokens) >= 2:
        words = "|".join(re.escape(w) for w in sorted(set(fill), key=len, reverse=True))
        filler = rf"(?:[\s,]+(?:and\s+)?(?:{words})){{0,4}}"
        # the last word may be a compound's tail ("hair is copper-red")
        body = (r"\s+".join(re.escape(t) for t in tokens[:-1]) + filler + r"[\s,]+(?:and\s+)?(?:[a-z]+-)?"
                + re.escape(tokens[-1]))
    else:
        body = r"\s+".join(re.escape(t) for t in tokens)
    return rf"(?<!\w){body}(?![\w-])"


_Pattern = tuple[tuple[str, ...], re.Pattern[str], str, bool]


@lru_cache(maxsize=1)
def _compiled() -> dict[str, list[_Pattern]]:
    out: dict[str, list[_Pattern]] = {}
    for fam, vals in _PHRASES.items():
        items = [(p, v) for v, ps in vals.items() for p in ps]
        items.sort(key=lambda pv: (-len(pv[0]), pv[0]))  # longest first: "no glasses" before "glasses"
        # words that must all occur for the phrase to match: a cheap substring test skips most regexes
        out[fam] = [(tuple(p.split()), re.compile(_phrase_regex(p, _FILL.get(fam))), v, v == "none")
                    for p, v in items]
    return out


def _normalize_text(text: str) -> str:
    text = text.lower()
    text = re.sub("[\u2010-\u2015\u2212]", "-", text)
    text = text.replace("\u2019", "'")
    return re.sub(r"\s+", " ", text)


def attributes_in_text(text: str) -> dict[str, str]:
    """The attribute values a free text states, by phrase matching (longest phrase first, each
    span used once). A family is returned only when the text states exactly one of its values;
    a negated value ("not wearing a cap") states nothing, and contradicting values drop the family."""
    t = _normalize_text(text)
    found: dict[str, str] = {}
    for fam, pats in _compiled().items():
        used = bytearray(len(t))
        values: set[str] = set()
        for needles, pat, value, is_none in pats:
            if not all(w in t for w in needles):
                continue
            for m in pat.finditer(t):
                s, e = m.span()
                if any(used[s:e]):
                    continue
                used[s:e] = b"\x01" * (e - s)
                if not is_none and _NEGATION.search(t, 0, s):
                    continue
                values.add(value)
        if len(values) == 1:
            found[fam] = values.pop()
    return found


# -- captions ------------------------------------------------------------------------------------

_SKIN_WORDS = {"light": ("light", "fair", "pale"), "medium": ("medium", "olive"), "tan": ("tan", "tanned"),
               "dark": ("dark", "deep brown")}
_HAIR_WORDS = {"black": ("black", "jet-black"), "brown": ("brown", "chestnut-brown"),
               "blonde": ("blonde", "golden blonde"), "red": ("red", "copper-red"), "gray": ("gray", "silver-gray")}
_EYE_WORDS = {"brown": ("brown", "dark brown"), "blue": ("blue", "bright blue"), "green": ("green", "vivid green")}
_AN = lambda w: ("an " if w[0] in "aeiou" else "a ") + w  # noqa: E731


def _c(rng: random.Random, *options: str) -> str:
    return rng.choice(options)


def caption_for(attrs: dict[str, str], rng: random.Random) -> str:
    """A detailed UniF²ace-style caption that states every attribute in ``attrs`` in words."""
    a = attrs
    skin = _c(rng, *_SKIN_WORDS[a["skin_tone"]])
    face = a["face_shape"]
    intro = _c(
        rng,
        f"The image shows a close-up, front-facing portrait of a person with {_AN(face)} face and {skin} skin.",
        f"This cartoon portrait depicts an individual who has {_AN(face)}-shaped face and {_AN(skin)} complexion.",
        f"The picture presents a person looking straight at the viewer, with {skin} skin and {_AN(face)} face.",
        f"In this headshot, the subject has {_AN(skin)} complexion and {_AN(face)} face shape.",
    )
    if a["hair_length"] == "bald":
        hair = _c(rng, "The person is bald, with a smooth, hairless head.",
                  "Their head is completely bald.", "They are bald, and the top of the head is smooth and shiny.")
    else:
        col = _c(rng, *_HAIR_WORDS[a["hair_color"]])
        length, tex = a["hair_length"], a["hair_texture"]
        hair = _c(
            rng,
            f"They have {length}, {tex} {col} hair.",
            f"Their hair is {length}, {tex} and {col}.",
            f"{length.capitalize()}, {tex} {col} hair frames the face.",
            f"The person's {tex}, {length} {col} hair is clearly visible.",
        )
    if a["eyewear"] == "sunglasses":
        eyes = _c(rng, "A pair of dark sunglasses covers their eyes.",
                  "They wear sunglasses with dark lenses that hide the eyes.",
                  "Their eyes are hidden behind black sunglasses.")
    else:
        ec = _c(rng, *_EYE_WORDS[a["eye_color"]])
        if a["eyewear"] == "glasses":
            eyes = _c(rng, f"They have {ec} eyes behind a pair of thin-framed glasses.",
                      f"They wear glasses, through which their {ec} eyes look at the camera.",
                      f"Clear eyeglasses sit in front of their {ec} eyes.")
        else:
            eyes = _c(rng, f"Their {ec} eyes look directly at the viewer, and they are not wearing glasses.",
                      f"They have {ec} eyes and wear no glasses.",
                      f"Their {ec} eyes are clearly visible, without glasses.")
    expr = {
        "neutral": _c(rng, "The person wears a calm, neutral expression with closed lips.",
                      "Their face shows a neutral expression.", "They keep a neutral expression and are not smiling."),
        "smiling": _c(rng, "They are smiling broadly, showing their upper teeth.",
                      "A warm smile shows their teeth, giving a happy expression.",
                      "The person is smiling cheerfully."),
        "surprised": _c(rng, "They look surprised, with raised eyebrows and their mouth open in a round shape.",
                        "Their expression is surprised: the eyebrows are raised and the mouth is open.",
                        "The person appears astonished, with an open mouth."),
    }[a["expression"]]
    lips = (_c(rng, "Their lips are painted with bright red lipstick.", "They wear red lipstick.",
               "Red lipstick colors their lips.") if a["lipstick"] == "red"
            else _c(rng, "They wear no lipstick.", "Their lips are natural, with no lipstick.",
                    "They are not wearing lipstick."))
    beard = {
        "none": _c(rng, "The person is clean-shaven.", "They have no facial hair.", "Their face is clean-shaven."),
        "beard": _c(rng, "They have a full beard that covers the chin and jaw.", "A full beard covers the lower face.",
                    "The person is bearded."),
        "mustache": _c(rng, "They have a mustache above the upper lip.", "A neat mustache sits above the mouth.",
                       "The person has a thick mustache but an otherwise smooth chin."),
    }[a["facial_hair"]]
    hat = {
        "none": _c(rng, "They are not wearing a hat", "There is no hat on their head", "They wear no hat"),
        "cap": _c(rng, "A baseball cap sits on their head", "They wear a cap with a front brim",
                  "They have a baseball cap on"),
        "beanie": _c(rng, "They wear a knitted beanie with a pom-pom", "A beanie covers the top of their head",
                     "They have a knit hat on"),
    }[a["hat"]]
    ear = (_c(rng, "gold hoop earrings hang from their ears", "they wear small gold earrings")
           if a["earrings"] == "earrings"
           else _c(rng, "they wear no earrings", "there are no earrings on their ears"))
    acc = f"{hat}, and {ear}."
    shirt, bg = a["shirt_color"], a["background"]
    close = _c(
        rng,
        f"They are dressed in a plain {shirt} shirt, and the portrait is set against a solid {bg} background.",
        f"A {shirt} shirt is visible at the shoulders, against a plain {bg} backdrop.",
        f"The subject wears a simple {shirt} top, and behind them is a uniform {bg} background.",
    )
    middle = [hair, eyes, f"{expr} {lips}", beard, acc]
    rng.shuffle(middle)
    return " ".join([intro, *middle, close])


# -- questions -----------------------------------------------------------------------------------

_MC: dict[str, tuple[str, ...]] = {
    "hair_color": ("What color is the person's hair?", "What is the hair color of the person in the image?"),
    "hair_length": ("How long is the person's hair?", "Which best describes the person's hair length?"),
    "hair_texture": ("Is the person's hair straight or curly?", "What is the texture of the person's hair?"),
    "eye_color": ("What color are the person's eyes?", "What is the eye color of the person?"),
    "eyewear": ("What is the person wearing over their eyes?", "What kind of eyewear does the person have on?"),
    "hat": ("What is the person wearing on their head?", "What kind of hat is the person wearing?"),
    "facial_hair": ("What facial hair does the person have?", "Which facial hair is visible on the person?"),
    "expression": ("What is the person's facial expression?", "How does the person look?"),
    "skin_tone": ("How would you describe the person's skin tone?", "What is the person's skin tone?"),
    "face_shape": ("What is the shape of the person's face?", "Which face shape does the person have?"),
    "shirt_color": ("What color is the person's shirt?", "What color are the person's clothes?"),
    "background": ("What color is the background?", "What is the background color of the image?"),
}

# (question, the values for which the answer is "yes")
_YN: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "hair_color": tuple((f"Does the person have {c} hair?", (c,)) for c in ATTRIBUTE_FAMILIES["hair_color"]),
    "hair_length": (("Is the person bald?", ("bald",)), ("Does the person have long hair?", ("long",)),
                    ("Does the person have short hair?", ("short",))),
    "hair_texture": (("Is the person's hair curly?", ("curly",)), ("Is the person's hair straight?", ("straight",))),
    "eye_color": tuple((f"Does the person have {c} eyes?", (c,)) for c in ATTRIBUTE_FAMILIES["eye_color"]),
    "eyewear": (("Is the person wearing sunglasses?", ("sunglasses",)),
                ("Is the person wearing clear prescription glasses?", ("glasses",)),
                ("Is the person wearing any glasses or sunglasses?", ("glasses", "sunglasses"))),
    "hat": (("Is the person wearing a hat?", ("cap", "beanie")), ("Is the person wearing a cap?", ("cap",)),
            ("Is the person wearing a beanie?", ("beanie",))),
    "earrings": (("Is the person wearing earrings?", ("earrings",)),),
    "facial_hair": (("Does the person have a beard?", ("beard",)), ("Is the person clean-shaven?", ("none",)),
                    ("Does the person have any facial hair?", ("beard", "mustache"))),
    "expression": (("Is the person smiling?", ("smiling",)), ("Does the person look surprised?", ("surprised",)),
                   ("Is the person's expression neutral?", ("neutral",))),
    "lipstick": (("Is the person wearing lipstick?", ("red",)), ("Is the person wearing red lipstick?", ("red",))),
    "skin_tone": tuple((f"Does the person have {c} skin?", (c,)) for c in ATTRIBUTE_FAMILIES["skin_tone"]),
    "face_shape": tuple((f"Does the person have {_AN(c)} face?", (c,)) for c in ATTRIBUTE_FAMILIES["face_shape"]),
    "shirt_color": tuple((f"Is the person wearing {_AN(c)} shirt?", (c,)) for c in ATTRIBUTE_FAMILIES["shirt_color"]),
    "background": tuple((f"Is the background {c}?", (c,)) for c in ATTRIBUTE_FAMILIES["background"]),
}


def qa_for(attrs: dict[str, str], rng: random.Random) -> list[QA]:
    """6–8 closed questions with exact answers on distinct families of this face: multiple choice
    (answer = the attribute value, options listed in the question) or yes/no (about half "yes")."""
    fams = [f for f in ATTRIBUTE_FAMILIES if f in attrs]
    chosen = rng.sample(fams, min(len(fams), rng.randint(6, 8)))
    out: list[QA] = []
    for fam in chosen:
        value = attrs[fam]
        if fam in _MC and rng.random() < 0.5:
            choices = ATTRIBUTE_FAMILIES[fam]
            q = f"{rng.choice(_MC[fam])} Answer with one of: {', '.join(choices)}."
            out.append(QA(question=q, answer=value, kind="closed", family=fam, choices=choices))
            continue
        want_yes = rng.random() < 0.5
        cands = [t for t in _YN[fam] if (value in t[1]) == want_yes] or list(_YN[fam])
        q, yes_values = rng.choice(cands)
        out.append(QA(question=f"{q} Answer yes or no.", answer="yes" if value in yes_values else "no",
                      kind="closed", family=fam, choices=("yes", "no")))
    return out


# ------------------------------------------------------------------------------------------------
# Building the set on disk
# ------------------------------------------------------------------------------------------------

def _derive_seed(*parts: Any) -> int:
    """A 63-bit seed from any parts, stable across processes and platforms (never ``hash()``)."""
    return int.from_bytes(hashlib.sha256(canonical_json(list(parts)).encode()).digest()[:8], "big") >> 1


def make_sample(split: str, index: int, seed: int, size: int = 128) -> tuple[dict[str, Any], Any]:
    """The JSONL record and the image of sample ``index`` (1-based) of ``split``."""
    rng = random.Random(_derive_seed("facebench-mini", MINI_VERSION, seed, split, index))
    attrs = sample_attributes(rng)
    image_seed = rng.getrandbits(32)
    caption = caption_for(attrs, rng)
    qa = qa_for(attrs, rng)
    doc_id = f"mini-{split}-{index:04d}"
    rec = {"doc_id": doc_id, "image": f"images/{split}/{doc_id}.png", "caption": caption,
           "qa": [q.to_dict() for q in qa], "attributes": attrs}
    return rec, render_face(attrs, size=size, seed=image_seed)


def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:40] or "host"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _clean_stale(parent: Path, name: str, max_age_s: float = 86400.0) -> None:
    """Remove temp folders of builds that died (this host, dead pid) or are older than a day."""
    prefix = f".{name}.tmp-"
    for p in parent.glob(prefix + "*"):
        rest = p.name[len(prefix):]
        pid_s, _, tail = rest.partition("@")
        host = tail.rsplit(".", 1)[0]
        try:
            dead = host == _host_tag() and pid_s.isdigit() and not _pid_alive(int(pid_s))
            old = time.time() - p.stat().st_mtime > max_age_s
        except OSError:
            continue
        if dead or old:
            shutil.rmtree(p, ignore_errors=True)


def _write_split(tmp: Path, split: str, n: int, seed: int, size: int) -> tuple[str, str]:
    """Write one split; returns (sha256 of the JSONL, sha256 over ids and RGB pixels of its images)."""
    img_dir = tmp / "images" / split
    img_dir.mkdir(parents=True)
    pix = hashlib.sha256()
    lines = []
    for i in range(1, n + 1):
        rec, img = make_sample(split, i, seed, size)
        img.save(img_dir / f"{rec['doc_id']}.png", format="PNG")
        pix.update(f"{rec['doc_id']}\0{img.width}x{img.height}\0".encode())
        pix.update(img.tobytes())
        lines.append(json.dumps(rec, ensure_ascii=False, sort_keys=True))
    path = tmp / f"{split}.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return sha256_file(path), pix.hexdigest()


def build_mini(root: str | Path, n_test: int = 150, n_gallery: int = 300, size: int = 128,
               seed: int = 20250311) -> Path:
    """Build the mini benchmark at ``root`` (kept as is if it is already complete).

    The set is written to a temp folder beside ``root`` and renamed into place last, so a killed
    build never leaves a half-built ``root``, and of two concurrent builds the first to finish wins."""
    root = Path(root)
    if (root / MANIFEST).exists():
        return root
    parent = root.parent
    parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(parent, root.name)
    tmp = parent / f".{root.name}.tmp-{os.getpid()}@{_host_tag()}.{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        split_seeds = {"test": _derive_seed(seed, "test"), "gallery": _derive_seed(seed, "gallery")}
        counts = {"test": n_test, "gallery": n_gallery}
        files, images, combined = {}, {}, hashlib.sha256()
        for split in SPLITS:
            files[f"{split}.jsonl"], images[split] = _write_split(tmp, split, counts[split], split_seeds[split], size)
            combined.update(images[split].encode())
        manifest = {
            "name": "facebench-mini", "version": MINI_VERSION, "seed": seed, "size": size, "counts": counts,
            "files": files, "images_sha256": images, "images_sha256_all": combined.hexdigest(),
            "images_hash": "sha256 over doc_id, size and RGB pixel bytes of each image in order",
            "attribute_families": {k: list(v) for k, v in ATTRIBUTE_FAMILIES.items()},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        _publish(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def _publish(tmp: Path, root: Path) -> None:
    try:
        os.rename(tmp, root)  # atomic; also replaces an empty folder
        return
    except OSError:
        if not root.exists():
            raise
    if (root / MANIFEST).exists():  # another build finished first: keep it
        shutil.rmtree(tmp, ignore_errors=True)
        return
    # ``root`` is a folder without a manifest (not one of ours): move it aside, then swap ours in
    aside = root.parent / f".{root.name}.tmp-{os.getpid()}@{_host_tag()}.old{secrets.token_hex(4)}"
    os.rename(root, aside)
    try:
        os.rename(tmp, root)
    except OSError:
        if not (root / MANIFEST).exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(aside, ignore_errors=True)


def default_root() -> Path:
    from facebench.paths import cache_root

    return cache_root() / "datasets" / f"mini-v{MINI_VERSION}"


class MiniDataset(LocalDataset):
    """The bundled mini benchmark (splits ``test`` and ``gallery``), built on first use."""

    name = "mini"
    splits = SPLITS

    def __init__(self, columns: dict[str, str] | None = None, root: str | Path | None = None, **_: Any):
        root = Path(root) if root is not None else default_root()
        if not (root / MANIFEST).exists():
            build_mini(root)
        super().__init__(root, columns=columns)
        self.name = "mini"
        try:
            self.manifest: dict[str, Any] = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise DatasetError(f"mini benchmark manifest {root / MANIFEST} is unreadable ({e}); "
                               f"fix: delete {root} and it is rebuilt") from None

    def _check_split(self, split: str) -> None:
        if split not in self.manifest.get("counts", {}):
            raise DatasetError(f"the mini benchmark has no split '{split}' (splits: {', '.join(SPLITS)})")

    def load(self, split: str, limit: int | None = None):
        self._check_split(split)
        return super().load(split, limit=limit)

    def fingerprint(self, split: str) -> str:
        self._check_split(split)
        m = self.manifest
        return sha256_text(canonical_json(["mini", m["version"], m["files"][f"{split}.jsonl"],
                                           m["images_sha256"][split], sorted(self.columns.items())]))[:16]

    def info(self) -> dict[str, Any]:
        m = self.manifest
        return {"name": "mini", "version": m.get("version"), "root": str(self.path), "counts": m.get("counts"),
                "size": m.get("size"), "seed": m.get("seed"), "columns": self.columns}
