"""UniF²ace-style captions that state every attribute of a mini face in words."""
from __future__ import annotations

import random

_SKIN_WORDS = {"light": ("light", "fair", "pale"), "medium": ("medium", "olive"), "tan": ("tan", "tanned"),
               "dark": ("dark", "deep brown")}
_HAIR_WORDS = {"black": ("black", "jet-black"), "brown": ("brown", "chestnut-brown"),
               "blonde": ("blonde", "golden blonde"), "red": ("red", "copper-red"), "gray": ("gray", "silver-gray")}
_EYE_WORDS = {"brown": ("brown", "dark brown"), "blue": ("blue", "bright blue"), "green": ("green", "vivid green")}


def with_article(word: str) -> str:
    """``a square`` / ``an oval``: the indefinite article by the first letter (enough for these words)."""
    return ("an " if word[0] in "aeiou" else "a ") + word


def _c(rng: random.Random, *options: str) -> str:
    return rng.choice(options)


def caption_for(attrs: dict[str, str], rng: random.Random) -> str:
    """A detailed UniF²ace-style caption that states every attribute in ``attrs`` in words."""
    a = attrs
    skin = _c(rng, *_SKIN_WORDS[a["skin_tone"]])
    face = a["face_shape"]
    intro = _c(
        rng,
        f"The image shows a close-up, front-facing portrait of a person with {with_article(face)} face and {skin} skin.",
        f"This cartoon portrait depicts an individual who has {with_article(face)}-shaped face and {with_article(skin)} complexion.",
        f"The picture presents a person looking straight at the viewer, with {skin} skin and {with_article(face)} face.",
        f"In this headshot, the subject has {with_article(skin)} complexion and {with_article(face)} face shape.",
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
