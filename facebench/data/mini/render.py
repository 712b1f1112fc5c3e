"""The mini set's renderer: a face drawn with PIL from an explicit attribute dict.

The drawing follows what real face detectors look for (dlib's HOG detector, MTCNN), so the face
metrics measure the faces rather than the detector: realistic proportions (a forehead between
hairline and brows, a hat that sits above the brows), soft photographic shading multiplied over
the skin (a darker rim of the round head, eye sockets, the sides and underside of the nose, the
shadow under the lower lip; highlights on forehead, nose bridge and cheeks), brows darker than
the skin whatever the hair colour, eyes with lids and a lash line instead of cartoon whites, a
nose with nostrils, lips, the neck in the head's shadow, the hair next to the forehead in shadow,
tinted sunglasses through which the eye structure still shows. The constants were tuned against
the detectors' scores over random attribute draws (``benchmarks/bench_mini.py`` reports the
rates). Large-area attributes (background, shirt, skin, hair) stay large colour regions.

Drawing uses only PIL integer operations (shapes, Gaussian blur, multiply) plus Python floats
rounded to pixel coordinates: deterministic for equal inputs, no process state, no ``hash()``,
so the set rebuilds byte-identically."""
from __future__ import annotations

import random
from functools import lru_cache

RGB = tuple[int, int, int]

_SKIN: dict[str, RGB] = {"light": (250, 222, 198), "medium": (226, 178, 136), "tan": (186, 128, 84),
                         "dark": (140, 92, 62)}
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
_SUNGLASS_TINT: RGB = (70, 72, 80)
_SUNGLASS_ALPHA = 190  # of 255: dark lenses that still let the eye structure through
# skin shading, as multipliers of 255 (lower = darker) and the highlight added on top
_RIM, _SOCKET, _NOSE_SIDE, _UNDER_NOSE, _UNDER_LIP, _HIGHLIGHT = 70, 210, 205, 150, 190, 60
_SHADE_BLUR = 0.02  # of S
_HAIR_SHADOW = 150  # multiplier on the hair just above the forehead
_NECK_SHADE = 0.6  # the neck lies in the head's shadow


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
        w, h = {"oval": (0.38, 0.54), "round": (0.43, 0.52), "square": (0.42, 0.53)}[shape]
        k = 1.0 + j(0.035)
        self.w, self.h = w * k * S, h * k * S
        self.cx = (0.5 + j(0.022)) * C
        self.cy = (0.47 + j(0.015)) * C
        self.shape = shape
        self.box = (self.cx - self.w / 2, self.cy - self.h / 2, self.cx + self.w / 2, self.cy + self.h / 2)
        self.eye_dx = (0.088 + j(0.006)) * S * (self.w / (0.44 * S)) ** 0.5
        self.eye_y = self.cy + (0.012 + j(0.008)) * S
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
            # a rounded crown and a broad jaw with corners: an ellipse and a rounded box over the
            # lower half (a box-shaped head is not a face to a detector)
            # (the outline is the union drawn ``width`` larger underneath: no seam across the face)
            for w, colour in (((width, outline),) if outline is not None and width else ()) + ((0, fill),):
                b = (box[0] - w, box[1] - w, box[2] + w, box[3] + w)
                jx = (b[2] - b[0]) * 0.08
                draw.ellipse(b, fill=colour)
                draw.rounded_rectangle((b[0] + jx, (b[1] + b[3]) / 2, b[2] - jx, b[3]), radius=0.09 * S + g + w, fill=colour)
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
    dark = _scale(color, 0.84) if sum(color) > 200 else _shift(color, 18)
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


def _soft(layer, radius: float):
    """A Gaussian blur of a shading layer, done at a quarter of the resolution and scaled back
    (bilinear): the same soft ramps at 1/16 of the cost (blurs dominated the drawing time)."""
    from PIL import Image, ImageFilter

    w, h = layer.size
    small = layer.resize((max(1, w // 4), max(1, h // 4)), Image.BOX)
    return small.filter(ImageFilter.GaussianBlur(radius / 4)).resize((w, h), Image.BILINEAR)


def _shade(canvas, f, C: int, S: float) -> None:
    """Soft photographic shading on the skin (multiplied over what is drawn): a darker rim (the head
    is round), eye sockets, the sides of the nose, under the nose and the lower lip; highlights on
    forehead, nose bridge and cheeks. All PIL integer ops (blur, multiply): deterministic."""
    from PIL import Image, ImageChops, ImageDraw

    mask = Image.new("L", (C, C), 0)
    f.head(ImageDraw.Draw(mask), fill=255)
    bbox = (int(f.box[0] - 0.1 * S), int(f.box[1] - 0.1 * S), int(f.box[2] + 0.1 * S), int(f.box[3] + 0.1 * S))
    bbox = (max(0, bbox[0]), max(0, bbox[1]), min(C, bbox[2]), min(C, bbox[3]))
    sh = Image.new("L", (C, C), _RIM)
    d = ImageDraw.Draw(sh)
    f.head(d, fill=255, grow=-0.05)
    for side in (-1, 1):
        ex = f.cx + side * f.eye_dx
        d.ellipse((ex - 0.075 * S, f.eye_y - 0.06 * S, ex + 0.075 * S, f.eye_y + 0.04 * S), fill=_SOCKET)
        nx = f.cx + side * 0.035 * S
        d.ellipse((nx - 0.018 * S, f.eye_y, nx + 0.018 * S, f.nose_y + 0.01 * S), fill=_NOSE_SIDE)
    d.ellipse((f.cx - 0.04 * S, f.nose_y + 0.005 * S, f.cx + 0.04 * S, f.nose_y + 0.04 * S), fill=_UNDER_NOSE)
    d.ellipse((f.cx - 0.05 * S, f.mouth_y + 0.02 * S, f.cx + 0.05 * S, f.mouth_y + 0.05 * S), fill=_UNDER_LIP)
    sh = _soft(sh.crop(bbox), _SHADE_BLUR * S)
    hi = Image.new("L", (C, C), 0)
    d = ImageDraw.Draw(hi)
    d.ellipse((f.cx - 0.015 * S, f.eye_y - 0.02 * S, f.cx + 0.015 * S, f.nose_y - 0.005 * S), fill=_HIGHLIGHT)
    d.ellipse((f.cx - 0.08 * S, f.box[1] + 0.06 * S, f.cx + 0.08 * S, f.eye_y - 0.08 * S), fill=_HIGHLIGHT // 2)
    for side in (-1, 1):
        ex = f.cx + side * (f.eye_dx + 0.01 * S)
        d.ellipse((ex - 0.045 * S, f.eye_y + 0.05 * S, ex + 0.045 * S, f.eye_y + 0.09 * S), fill=_HIGHLIGHT // 2)
    hi = _soft(hi.crop(bbox), _SHADE_BLUR * S)
    region = canvas.crop(bbox)
    shaded = ImageChops.add(ImageChops.multiply(region, Image.merge("RGB", (sh, sh, sh))), Image.merge("RGB", (hi, hi, hi)))
    region.paste(shaded, (0, 0), mask.crop(bbox))
    canvas.paste(region, bbox[:2])




def _hair_shadow(canvas, f, C: int, S: float, hair_mask) -> None:
    """Hair next to the face lies in the head's shadow (as in photos): darken a soft band of the
    hair around the face outline, so the lit face stands out from light hair too."""
    from PIL import Image, ImageChops, ImageDraw

    m = 0.2 * S
    box = (max(0, int(f.box[0] - m)), max(0, int(f.box[1] - m)), min(C, int(f.box[2] + m)), min(C, int(f.box[3] + m)))
    sh = Image.new("L", (C, C), 255)
    f.head(ImageDraw.Draw(sh), fill=_HAIR_SHADOW, grow=0.03, top_grow=0.02)
    sh = _soft(sh.crop(box), 0.035 * S)
    dark = ImageChops.multiply(canvas.crop(box), Image.merge("RGB", (sh, sh, sh)))
    canvas.paste(dark, box[:2], hair_mask.crop(box))


def render_face(attrs: dict[str, str], size: int = 128, seed: int = 0):
    """Draw the face described by ``attrs`` as a ``size``×``size`` RGB image.

    Drawn at 4× and box-downsampled (smooth edges); ``seed`` adds a small jitter of position, size and
    shade so equal attributes do not give equal images. Deterministic for equal inputs."""
    from PIL import Image, ImageChops, ImageDraw

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
                fill=_scale(skin, _NECK_SHADE), outline=skin_line, width=LW)
    d.ellipse((f.cx - 0.46 * S, shirt_top, f.cx + 0.46 * S, shirt_top + 0.62 * S),
              fill=shirt, outline=_outline_of(shirt), width=LW)
    d.chord((f.cx - neck_w / 2 - 0.01 * S, shirt_top - 0.06 * S, f.cx + neck_w / 2 + 0.01 * S, shirt_top + 0.07 * S),
            start=0, end=180, fill=_scale(skin, _NECK_SHADE), outline=_outline_of(shirt), width=LW)

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
    _shade(canvas, f, C, S)

    # -- hair on the head ---------------------------------------------------------------------------
    if hair_len != "bald":
        mask = Image.new("L", (C, C), 0)
        md = ImageDraw.Draw(mask)
        f.head(md, fill=255, grow=0.022, top_grow=0.035)
        if texture == "curly":
            _bumps(md, f.cx, f.cy, f.w / 2 + 0.03 * S, f.h / 2 + 0.05 * S, 180, 360, 0.032 * S, 12)
        hair_line = y0 + f.h * (0.08 if hair_len == "short" else 0.06)
        # cut out the face below a rounded hairline, leaving sideburns at both sides
        md.ellipse((x0 + 0.05 * S + f.tilt, hair_line, x1 - 0.05 * S + f.tilt, hair_line + 1.6 * f.h), fill=0)
        md.rectangle((0, f.eye_y + 0.02 * S, C, C), fill=0)
        _paste_masked(canvas, hair_layer, mask, _outline_of(hair), px(0.006), keep_out=back_mask)
        # (only the hair on the head: shading long hair beside the cheeks made faces harder to find)
        _hair_shadow(canvas, f, C, S, mask if back_mask is None else ImageChops.subtract(mask, back_mask))

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
    limit = 0.55 * _luma(skin)  # brows are darker than the skin, whatever the hair colour (as in photos)
    if _luma(brow) > limit:
        brow = _scale(brow, limit / max(1.0, _luma(brow)))
    brow_lift = 0.018 * S if expression == "surprised" else 0.0
    # the video set's extra states (keys that no still-image attribute dict has): "sad"/"angry"
    # brows and mouths, closed eyes (``eyes: closed``) and an open, talking mouth (``mouth: open``)
    eyes_closed = attrs.get("eyes") == "closed"
    iris = _shift(_EYE[attrs.get("eye_color", "brown")], rng.uniform(-8, 8))
    eyewear = attrs.get("eyewear", "none")
    for side in (-1, 1):
        ex = f.cx + side * f.eye_dx
        by = f.eye_y - 0.062 * S - brow_lift + (f.tilt * 0.3 if side > 0 else 0)
        if expression in ("sad", "angry"):  # a straight brow, its inner end raised (sad) or lowered (angry)
            drop = (0.03 if expression == "angry" else -0.03) * S
            inner, outer = ex - side * 0.05 * S, ex + side * 0.055 * S
            d.line((outer, by + 0.01 * S, inner, by + 0.01 * S + drop), fill=brow, width=px(0.018))
        else:
            d.arc((ex - 0.055 * S, by, ex + 0.055 * S, by + 0.06 * S), start=200, end=340, fill=brow, width=px(0.016))
        # under tinted sunglasses the eye structure still shows (always brown: the colour is hidden)
        ew, eh = 0.082 * S, (0.05 if expression == "surprised" else 0.04) * S
        box = (ex - ew / 2, f.eye_y - eh / 2, ex + ew / 2, f.eye_y + eh / 2)
        if eyes_closed:  # lids down: skin over the eye, the lash line across its middle
            d.ellipse((box[0] - 2, box[1] - eh * 0.6, box[2] + 2, box[3] + 2), fill=_scale(skin, 0.85))
            d.line((box[0], f.eye_y, box[2], f.eye_y), fill=(30, 22, 22), width=px(0.011))
            continue
        d.ellipse(box, fill=_mix(skin, (232, 226, 220), 0.3))  # sclera in the lids' shade
        ir = 0.021 * S
        d.ellipse((ex - ir, f.eye_y - ir, ex + ir, f.eye_y + ir), fill=iris)
        pr = 0.009 * S
        d.ellipse((ex - pr, f.eye_y - pr, ex + pr, f.eye_y + pr), fill=(12, 12, 14))
        hr = 0.005 * S
        d.ellipse((ex + 0.007 * S - hr, f.eye_y - 0.008 * S - hr, ex + 0.007 * S + hr, f.eye_y - 0.008 * S + hr),
                  fill=(250, 250, 250))
        # eyelids: skin above and below the visible eye, a dark upper lash line, a faint crease
        lid = _scale(skin, 0.85)
        d.chord((box[0] - 2, box[1] - eh * 0.6, box[2] + 2, box[3] - eh * 0.25), start=180, end=360, fill=lid)
        d.arc((box[0], box[1] - eh * 0.15, box[2], box[3] + eh * 0.1), start=195, end=345, fill=(30, 22, 22), width=px(0.011))
        d.arc((box[0] + 0.01 * S, box[1] - 0.02 * S, box[2] - 0.01 * S, box[3] - 0.01 * S), start=210, end=330,
              fill=_scale(skin, 0.7), width=px(0.004))
    if eyewear != "none":
        frame = (22, 22, 26)
        lens_r = (0.052 if eyewear == "sunglasses" else 0.06) * S
        for side in (-1, 1):
            ex = f.cx + side * f.eye_dx
            box = (ex - lens_r, f.eye_y - lens_r * 0.82, ex + lens_r, f.eye_y + lens_r * 0.82)
            if eyewear == "sunglasses":
                ib = tuple(int(v) for v in (box[0] - 2, box[1] - 2, box[2] + 3, box[3] + 3))
                lm = Image.new("L", (ib[2] - ib[0], ib[3] - ib[1]), 0)
                ImageDraw.Draw(lm).rounded_rectangle((box[0] - ib[0], box[1] - ib[1], box[2] - ib[0], box[3] - ib[1]),
                                                     radius=lens_r * 0.55, fill=_SUNGLASS_ALPHA)
                canvas.paste(_SUNGLASS_TINT, ib, lm)
                d.rounded_rectangle(box, radius=lens_r * 0.55, outline=frame, width=px(0.012))
                d.line((ex - lens_r * 0.45, f.eye_y - lens_r * 0.3, ex - lens_r * 0.1, f.eye_y - lens_r * 0.55),
                       fill=(120, 124, 140), width=px(0.008))
            else:
                d.rounded_rectangle(box, radius=lens_r * 0.55, outline=frame, width=px(0.011))
            arm_x = x0 + inset if side < 0 else x1 - inset
            d.line((ex + side * lens_r, f.eye_y - lens_r * 0.3, arm_x, ear_y - 0.02 * S), fill=frame, width=px(0.009))
        d.line((f.cx - f.eye_dx + lens_r, f.eye_y - lens_r * 0.2, f.cx + f.eye_dx - lens_r, f.eye_y - lens_r * 0.2),
               fill=frame, width=px(0.011))

    # -- nose -----------------------------------------------------------------------------------------
    # nostrils and the wings of the nose
    dark_n = _scale(skin, 0.5)
    for side in (-1, 1):
        nx = f.cx + side * 0.017 * S
        d.ellipse((nx - 0.011 * S, f.nose_y + 0.004 * S, nx + 0.011 * S, f.nose_y + 0.016 * S), fill=dark_n)
        d.arc((f.cx + side * 0.03 * S - 0.014 * S, f.nose_y - 0.012 * S, f.cx + side * 0.03 * S + 0.014 * S, f.nose_y + 0.018 * S),
              start=(90 if side < 0 else -90), end=(270 if side < 0 else 90), fill=_scale(skin, 0.7), width=px(0.006))

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
    elif attrs.get("mouth") == "open":  # talking: an open mouth, wider than tall
        box = (f.cx - 0.055 * S, my - 0.02 * S, f.cx + 0.055 * S, my + 0.035 * S)
        d.ellipse(box, fill=(90, 20, 32), outline=lip, width=lip_w)
    elif expression == "sad":  # corners down
        box = (f.cx - 0.07 * S, my - 0.005 * S, f.cx + 0.07 * S, my + 0.07 * S)
        d.arc(box, start=200, end=340, fill=lip, width=max(lip_w, px(0.014)))
    elif expression == "angry":  # pressed lips, a tight straight line
        d.line((f.cx - 0.05 * S, my + 0.005 * S, f.cx + 0.05 * S, my + 0.005 * S), fill=_scale(skin, 0.3),
               width=px(0.016))
    else:
        if lipstick:
            d.ellipse((f.cx - 0.06 * S, my - 0.018 * S, f.cx + 0.06 * S, my + 0.022 * S), fill=_LIPSTICK)
            d.line((f.cx - 0.058 * S, my, f.cx + 0.058 * S, my), fill=_scale(_LIPSTICK, 0.55), width=px(0.006))
        else:  # closed lips: a darker upper lip, a lighter lower lip, the dark line between
            lipc = _mix(_scale(skin, 0.8), (180, 80, 80), 0.35)
            d.chord((f.cx - 0.058 * S, my - 0.02 * S, f.cx + 0.058 * S, my + 0.01 * S), start=180, end=360, fill=_scale(lipc, 0.85))
            d.chord((f.cx - 0.052 * S, my - 0.012 * S, f.cx + 0.052 * S, my + 0.026 * S), start=0, end=180, fill=lipc)
            d.line((f.cx - 0.058 * S, my, f.cx + 0.058 * S, my), fill=_scale(skin, 0.35), width=px(0.008))

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
        top = y0 - 0.125 * S  # hats sit above the brows, showing the forehead
        brim_y = y0 + f.h * 0.15 - 0.05 * S
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
