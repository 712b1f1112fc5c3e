"""Closed VQA pairs with exact answers (multiple choice and yes/no) about a mini face."""
from __future__ import annotations

import random

from facebench.data.mini.attributes import ATTRIBUTE_FAMILIES
from facebench.data.mini.captions import with_article
from facebench.types import QA

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
    "face_shape": tuple((f"Does the person have {with_article(c)} face?", (c,)) for c in ATTRIBUTE_FAMILIES["face_shape"]),
    "shirt_color": tuple((f"Is the person wearing {with_article(c)} shirt?", (c,)) for c in ATTRIBUTE_FAMILIES["shirt_color"]),
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
