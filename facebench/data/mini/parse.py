"""Reading attributes back from free text: the phrase tables and the parser used to score
captions (``caption_attr_acc``) and to phrase VQAScore's per-attribute questions."""
from __future__ import annotations

import re
from functools import lru_cache

from facebench.data.mini.attributes import ATTRIBUTE_FAMILIES

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
