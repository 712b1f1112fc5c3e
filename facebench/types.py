"""Plain data objects passed between the phases: samples, requests, predictions, metric values.

Requests carry every parameter that can change a model output, so their canonical form is the
cache key (HELM-style request objects).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from facebench.hashing import canonical_json, sha256_bytes

if TYPE_CHECKING:
    from facebench.videoinput import VideoRef

Capability = Literal["generate", "understand", "video"]


@dataclass(frozen=True)
class QA:
    """One question about a face image with its reference answer.

    ``kind`` is "closed" when ``answer`` is exact (yes/no or one of ``choices``), else "open".
    ``family`` names the attribute family the question probes (e.g. "hair_color"), if any.
    """

    question: str
    answer: str
    kind: str = "open"
    family: str | None = None
    choices: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        # written out (not dataclasses.asdict): called for every item when files are written
        return {"question": self.question, "answer": self.answer, "kind": self.kind, "family": self.family,
                "choices": list(self.choices)}


@dataclass
class Sample:
    """One dataset row. ``image`` is a path (lazy) or None for prompt-only rows."""

    doc_id: str
    image: Path | None
    caption: str
    qa: list[QA] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)
    video: Path | None = None  # a clip (video datasets; facebench/videoinput.py)

    def load_image(self):
        from facebench.images import load_image

        if self.image is None:
            raise ValueError(f"sample {self.doc_id} has no image")
        return load_image(self.image)

    def to_dict(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "image": str(self.image) if self.image is not None else None,
            "caption": self.caption,
            "qa": [q.to_dict() for q in self.qa],
            "attributes": dict(self.attributes),
            **({"video": str(self.video)} if self.video is not None else {}),
        }


@dataclass(frozen=True)
class GenRequest:
    """Text → ``n`` images. ``seed`` is per sample (never per batch)."""

    doc_id: str
    prompt: str
    n: int = 1
    seed: int = 0
    height: int = 512
    width: int = 512
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"doc_id": self.doc_id, "prompt": self.prompt, "n": self.n, "seed": self.seed, "height": self.height,
                "width": self.width, "params": dict(self.params)}

    def seeds(self) -> list[int]:
        """One seed per image: image k of this request uses ``seed + k``."""
        return [self.seed + k for k in range(self.n)]


@dataclass(frozen=True)
class ChatRequest:
    """Image + chat messages → text. ``messages`` are {"role", "content"} dicts (text only);
    the image is given once, attached to the first user turn by the adapter. ``video`` (a clip's
    hash and frame-sampling policy, decoded by ``load_video()``) takes the image's place on video
    tasks; it is in the cache key only when present, so image requests keep their keys."""

    doc_id: str
    image: Path | None
    messages: tuple[dict[str, str], ...]
    params: dict[str, Any] = field(default_factory=dict)
    image_sha256: str = ""
    video: VideoRef | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "doc_id": self.doc_id,
            "image_sha256": self.image_sha256,
            "messages": [dict(m) for m in self.messages],
            "params": self.params,
        }
        if self.video is not None:
            out["video"] = self.video.to_dict()
        return out

    def load_video(self):
        """The sampled frames (``facebench.videoinput.VideoClip``), decoded now, streamed."""
        if self.video is None:
            raise ValueError(f"request {self.doc_id} has no video")
        return self.video.load()

    @property
    def question(self) -> str:
        return next((m["content"] for m in reversed(self.messages) if m["role"] == "user"), "")

    def load_image(self):
        from facebench.images import load_image

        if self.image is None:
            raise ValueError(f"request {self.doc_id} has no image")
        return load_image(self.image)


@dataclass
class Prediction:
    """One scored unit: a generation prompt with its images, or a question with its answer.

    ``item_id`` is unique within a task (``doc_id`` for generation/desc, ``doc_id#qN`` for conv).
    """

    item_id: str
    doc_id: str
    task: str
    prompt: str
    reference: str | None = None
    images: list[Path] = field(default_factory=list)
    output: str | None = None
    qa: QA | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    source_image: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "doc_id": self.doc_id,
            "task": self.task,
            "prompt": self.prompt,
            "reference": self.reference,
            "images": [str(p) for p in self.images],
            "output": self.output,
            "qa": self.qa.to_dict() if self.qa else None,
            "attributes": self.attributes,
            "source_image": str(self.source_image) if self.source_image else None,
            "meta": self.meta,
        }


@dataclass
class MetricValue:
    """One named number with everything needed to read it honestly.

    ``value`` is None when the metric was skipped (``skipped`` then says why and how to fix it).
    ``per_item`` maps item_id → score, with None for a failed item (counted in ``n_failed``,
    excluded from the mean — never replaced by a number).
    """

    name: str
    value: float | None
    higher_is_better: bool
    variant: str = ""
    version: str = "1"
    ci: tuple[float, float] | None = None
    n: int = 0
    n_failed: int = 0
    skipped: str | None = None
    per_item: dict[str, float | None] = field(default_factory=dict)
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    per_attribute: dict[str, dict[str, float]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    aggregate: str = "mean"  # "mean" (bootstrap CI from per_item) or "set" (metric gives value/ci)

    def summary(self) -> dict[str, Any]:
        """What goes into results.json (per-item data goes to samples_<task>.jsonl)."""
        return {
            "value": self.value,
            "ci": list(self.ci) if self.ci else None,
            "n": self.n,
            "n_failed": self.n_failed,
            "higher_is_better": self.higher_is_better,
            "variant": self.variant,
            "version": self.version,
            "skipped": self.skipped,
            "per_attribute": self.per_attribute,
            "extra": self.extra,
        }


def image_bytes_sha256(path: Path) -> str:
    return sha256_bytes(Path(path).read_bytes())


def request_key_payload(req: GenRequest | ChatRequest) -> str:
    return canonical_json(req.to_dict())
