"""Versioned judge prompt templates.

Every template has a ``name``, a ``version`` and a ``hash`` over its full text: the hash goes into
results and into every judge cache key, so editing a prompt can never silently reuse old reviews.

The paper's exact judge prompt is UNVERIFIED (docs/reference.md §1). The ``desc``/``conv`` templates follow
the LLaVA-Bench review protocol that the paper's naming matches: the judge sees a textual context
(the reference caption stands in for the image, so text-only judges such as DeepSeek-V3 can run
it), the question, the reference ("Assistant 1") and the model's answer ("Assistant 2"), and rates
both 1–10 on helpfulness, relevance, accuracy and detail. Rating the reference too is what gives the
``_ref_mean`` and ``_relative`` numbers. The wording here is facebench's own (it tells the judge that
Assistant 1 is the human reference, asks for face attributes to be checked, and runs at temperature
0 with 512 reply tokens): ``desc``/``conv`` version 1, the default of every task.

LLaVA-Bench's own protocol is offered as the templates ``llava_bench_conv``, ``llava_bench_detail``,
``llava_bench_complex`` (``llava_bench`` picks detail for desc, conv for conv): its rule, system
message, layout, temperature 0.2 and max_tokens 1024 are read from LLaVA's repository at a pinned
commit on first use (``facebench.judge.llava_protocol``; their text is not part of facebench).
Which template was used — name, version, hash, and for LLaVA's the commit and file digests — is
recorded beside every score.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from facebench.errors import TaskConfigError
from facebench.hashing import canonical_json, sha256_text

_PAIRED_RULE = (
    "Please judge how well two AI assistants answered the user's question about the face described "
    "in the context above. Assistant 1's answer is the reference written by a human annotator. "
    "Rate the helpfulness, relevance, accuracy and level of detail of each answer, checking every "
    "claimed attribute (hair, eyes, facial hair, accessories, makeup, expression, emotion, age, "
    "gender) against the context. Give each assistant one overall score from 1 to 10, where higher "
    "is better.\n"
    "Reply in exactly this format: the first line holds only the two scores, for Assistant 1 and "
    "Assistant 2 in that order, separated by a space (for example: 7 5). From the second line on, "
    "give a short explanation (at most three sentences) of your ratings. Judge the content only: "
    "the order of the answers and their length must not influence your scores."
)

_SINGLE_RULE = (
    "Please judge how well the AI assistant answered the user's question about the face described "
    "in the context above, using the reference answer as the ground truth. Rate helpfulness, "
    "relevance, accuracy and level of detail, checking every claimed attribute against the "
    "reference. Give one overall score from 1 to 10, where higher is better.\n"
    "Reply in exactly this format: the first line is 'Score: N' with N between 1 and 10. From the "
    "second line on, give a short explanation (at most three sentences)."
)

_SYSTEM = "You are a careful and precise assistant that checks the quality of answers about face images."

_PAIRED_USER = (
    "[Context]\n{context}\n\n[Question]\n{question}\n\n"
    "[Assistant 1]\n{reference}\n\n[End of Assistant 1]\n\n"
    "[Assistant 2]\n{answer}\n\n[End of Assistant 2]\n\n"
    "[System]\n{rule}\n"
)

_SINGLE_USER = (
    "[Context]\n{context}\n\n[Question]\n{question}\n\n"
    "[Reference answer]\n{reference}\n\n[End of reference answer]\n\n"
    "[Assistant's answer]\n{answer}\n\n[End of assistant's answer]\n\n"
    "[System]\n{rule}\n"
)

_VLM_SYSTEM = "You are a careful and precise judge of how well an image matches a text description."

_VLM_USER = (
    "The image was generated from the text description below. Rate how faithfully the image "
    "matches the description on a scale from 0 to 100: 100 means every described attribute "
    "(gender, age, hair, eyes, facial hair, accessories, makeup, expression, emotion) is present "
    "and correct and the image is a realistic face; 0 means the image has nothing to do with the "
    "description. Deduct points for each missing or contradicted attribute.\n"
    "Reply in exactly this format: the first line is 'Score: N' with N an integer from 0 to 100. "
    "From the second line on, give a short explanation (at most three sentences).\n\n"
    "[Description]\n{prompt}\n[End of description]"
)


@dataclass(frozen=True)
class Template:
    """A judge prompt. ``paired``: the judge rates reference and answer together (two scores).

    ``scale`` is the score range the reply must fall in (a reply outside it is unparsable).
    """

    name: str
    version: str
    system: str
    user: str
    paired: bool = False
    scale: tuple[float, float] = (1.0, 10.0)
    rule: str = ""
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    temperature: float | None = None  # None: the judge settings' (0)
    max_tokens: int | None = None  # None: the judge settings' reply_max_tokens (512)

    @property
    def label(self) -> str:
        """``name@version#hash``: what the sample rows record beside each score."""
        return f"{self.name}@{self.version}#{self.hash}"

    @cached_property
    def hash(self) -> str:
        """16 hex digits of sha256 over everything that reaches the judge."""
        payload = {"name": self.name, "version": self.version, "system": self.system, "user": self.user,
                   "rule": self.rule, "paired": self.paired, "scale": list(self.scale)}
        if self.temperature is not None or self.max_tokens is not None:
            payload.update(temperature=self.temperature, max_tokens=self.max_tokens)
        return sha256_text(canonical_json(payload))[:16]

    def messages(self, **fields: str) -> list[dict[str, str]]:
        """Chat messages for one review (text only)."""
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.user.format(rule=self.rule, **fields)},
        ]

    def describe(self) -> dict[str, Any]:
        """What results.json records about the prompt (never its text)."""
        out = {"name": self.name, "version": self.version, "hash": self.hash, "paired": self.paired,
               "scale": list(self.scale), "wording": self.extra.get("wording", "facebench")}
        if self.temperature is not None:
            out["temperature"] = self.temperature
        if self.max_tokens is not None:
            out["max_tokens"] = self.max_tokens
        if "source" in self.extra:
            out["source"] = self.extra["source"]
        return out


TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template("desc", "1", _SYSTEM, _PAIRED_USER, paired=True, rule=_PAIRED_RULE,
                 notes="LLaVA-Bench-style paired review of a face caption (reference rated too)."),
        Template("conv", "1", _SYSTEM, _PAIRED_USER, paired=True, rule=_PAIRED_RULE,
                 notes="LLaVA-Bench-style paired review of a face VQA answer (reference rated too)."),
        Template("desc_single", "1", _SYSTEM, _SINGLE_USER, paired=False, rule=_SINGLE_RULE,
                 notes="Single-answer review of a caption against the reference (no reference score)."),
        Template("conv_single", "1", _SYSTEM, _SINGLE_USER, paired=False, rule=_SINGLE_RULE,
                 notes="Single-answer review of a VQA answer against the reference (no reference score)."),
        Template("vlm_score", "1", _VLM_SYSTEM, _VLM_USER, paired=False, scale=(0.0, 100.0),
                 notes="0–100 prompt–image agreement by a VLM (paper's VLM-score; its prompt is UNVERIFIED)."),
    )
}


LLAVA_TEMPLATES = ("llava_bench", "llava_bench_conv", "llava_bench_detail", "llava_bench_complex")


def get_template(name: str) -> Template:
    try:
        return TEMPLATES[name]
    except KeyError:
        known = ", ".join(sorted([*TEMPLATES, *LLAVA_TEMPLATES]))
        raise TaskConfigError(f"unknown judge template {name!r}; known: {known}") from None


def llava_template(category: str, protocol: Any) -> Template:
    """A paired ``Template`` from LLaVA-Bench's loaded protocol (``llava_protocol.LlavaProtocol``)."""
    from facebench.judge.llava_protocol import COMMIT

    rule = protocol.rules[category]
    role = str(rule["role"]).replace("{", "{{").replace("}", "}}")
    return Template(category, f"llava@{COMMIT[:7]}", protocol.system, protocol.layout.replace("{role}", role),
                    paired=True, rule=str(rule["prompt"]), temperature=protocol.temperature,
                    max_tokens=protocol.max_tokens,
                    notes="LLaVA-Bench's GPT review protocol, loaded from LLaVA's repository at a pinned commit.",
                    extra={"wording": "LLaVA-Bench", "source": protocol.source})


def resolve_template(name: str, task: str, local_dir: str | None = None, key: str = "KEY") -> Template:
    """A built-in template by name, or LLaVA-Bench's (loaded on first use; raises
    ``llava_protocol.ProtocolUnavailable`` with the fix when it cannot be had)."""
    if name in LLAVA_TEMPLATES:
        from facebench.judge import llava_protocol

        return llava_template(llava_protocol.category_for(name, task), llava_protocol.load(local_dir, key))
    return get_template(name)
