"""``mini-video``: short synthetic face clips with exact, time-dependent labels, built offline.

Each clip is one mini face (the static attributes of the mini set, drawn by ``render_face``)
over ``FRAMES`` frames at ``FPS`` fps, with events whose frames are known exactly:

- expression: neutral, or an onset neutral → happy / sad / surprised / angry at a known frame
  (the clip's DFER class is the expression it ends on);
- blink: the eyes close for ``BLINK_FRAMES`` consecutive frames (so any uniform sampling of 8 or
  more frames sees it);
- head turn: none, or a turn toward the left / right of the picture from a known frame on
  (drawn as a progressive sideways shift and squeeze of the face);
- talking: the mouth opens and closes every other frame pair (neutral clips only, whose closed
  mouth makes the opening unambiguous).

Questions (all closed, exact): the DFER question (family ``dfer``), whether the expression
changes, blink, head turn, talking, and two static-attribute questions of the mini set. Splits:
``test`` (for the tasks) and ``gallery`` (for the retrieval baseline); the set is written to the
facebench cache on first use, deterministically (same bytes on every rebuild: FFmpeg's own
``mpeg4`` encoder, single-threaded, fixed quantiser), and published atomically like ``mini``.
"""
from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

from facebench.data.mini.attributes import ATTRIBUTE_FAMILIES, sample_attributes
from facebench.data.mini.build import MiniDataset, _derive_seed, build_atomically
from facebench.data.mini.captions import caption_for
from facebench.data.mini.qa import qa_for
from facebench.data.mini.render import render_face
from facebench.hashing import canonical_json, sha256_file
from facebench.types import QA

MINI_VIDEO_VERSION = "1"
MANIFEST = "MANIFEST.json"
SPLITS = ("test", "gallery")
FRAMES = 12
FPS = 8
SIZE = 96
BLINK_FRAMES = 3
DFER_CLASSES = ("neutral", "happy", "sad", "surprised", "angry")
TURNS = ("none", "left", "right")
_RENDER_EXPRESSION = {"neutral": "neutral", "happy": "smiling", "sad": "sad", "surprised": "surprised",
                      "angry": "angry"}
DFER_QUESTION = ("Which facial expression does the person show at the end of this video? Answer with one word: "
                 + ", ".join(DFER_CLASSES[:-1]) + " or " + DFER_CLASSES[-1] + ".")


def sample_clip(rng: random.Random) -> dict[str, Any]:
    """A clip's static attributes and its events (frame numbers are 0-based)."""
    attrs = sample_attributes(rng)
    if attrs.get("eyewear") == "sunglasses":  # blinks must be visible: clear glasses instead
        attrs["eyewear"] = "glasses"
        attrs["eye_color"] = rng.choice(ATTRIBUTE_FAMILIES["eye_color"])
    attrs.pop("expression", None)
    expression = rng.choice(DFER_CLASSES)
    onset = rng.randint(3, 6) if expression != "neutral" else None
    blink = rng.random() < 0.5
    blink_at = rng.randint(1, FRAMES - BLINK_FRAMES - 1) if blink else None
    turn = rng.choices(TURNS, weights=(0.5, 0.25, 0.25))[0]
    turn_at = rng.randint(2, 5) if turn != "none" else None
    talking = expression == "neutral" and rng.random() < 0.6
    return {"attributes": attrs, "expression": expression, "onset": onset, "blink_at": blink_at, "turn": turn,
            "turn_at": turn_at, "talking": talking, "identity_seed": rng.getrandbits(32)}


def frame_state(clip: dict[str, Any], t: int) -> tuple[str, bool, bool, float]:
    """(renderer expression, eyes closed, mouth open, head-turn progress in [-1, 1]) at frame ``t``."""
    onset = clip["onset"]
    expression = clip["expression"] if onset is not None and t >= onset else "neutral"
    b = clip["blink_at"]
    closed = b is not None and b <= t < b + BLINK_FRAMES
    mouth = bool(clip["talking"]) and t >= 1 and (t // 2) % 2 == 1
    turn = 0.0
    if clip["turn_at"] is not None and t >= clip["turn_at"]:
        span = max(1, FRAMES - 1 - clip["turn_at"])
        turn = min(1.0, (t - clip["turn_at"] + 1) / span) * (-1.0 if clip["turn"] == "left" else 1.0)
    return _RENDER_EXPRESSION[expression], closed, mouth, turn


def _turned(img, progress: float):
    """The face shifted toward one side of the picture and squeezed (a head turning that way)."""
    if progress == 0.0:
        return img
    from PIL import Image

    w, h = img.size
    squeeze = 1.0 - 0.18 * abs(progress)
    shift = 0.16 * w * progress
    cx = w / 2
    # output x → input x: x_in = (x_out - cx - shift) / squeeze + cx
    coeffs = (1 / squeeze, 0.0, cx - (cx + shift) / squeeze, 0.0, 1.0, 0.0)
    return img.transform((w, h), Image.AFFINE, coeffs, resample=Image.BILINEAR, fillcolor=img.getpixel((0, 0)))


def render_clip(clip: dict[str, Any], size: int = SIZE) -> list[Any]:
    """The clip's frames (each distinct face state is drawn once)."""
    drawn: dict[tuple[str, bool, bool], Any] = {}
    frames = []
    for t in range(FRAMES):
        expr, closed, mouth, turn = frame_state(clip, t)
        key = (expr, closed, mouth)
        if key not in drawn:
            attrs = {**clip["attributes"], "expression": expr}
            if closed:
                attrs["eyes"] = "closed"
            if mouth:
                attrs["mouth"] = "open"
            drawn[key] = render_face(attrs, size=size, seed=clip["identity_seed"])
        frames.append(_turned(drawn[key], turn))
    return frames


def _yn(flag: bool) -> str:
    return "yes" if flag else "no"


def clip_qa(clip: dict[str, Any], rng: random.Random) -> list[QA]:
    yn = ("yes", "no")
    out = [
        QA(DFER_QUESTION, clip["expression"], "closed", "dfer", DFER_CLASSES),
        QA("Does the person's facial expression change during the video? Answer yes or no.",
           _yn(clip["onset"] is not None), "closed", "expression_change", yn),
        QA("Does the person blink during the video? Answer yes or no.", _yn(clip["blink_at"] is not None), "closed",
           "blink", yn),
        QA("Does the person turn their head toward the left or the right side of the picture? "
           "Answer left, right or none.", clip["turn"], "closed", "head_turn", TURNS),
        QA("Is the person talking during the video? Answer yes or no.", _yn(clip["talking"]), "closed", "talking", yn),
    ]
    static = [q for q in qa_for({**clip["attributes"], "expression": "neutral"}, rng)
              if q.kind == "closed" and q.family != "expression"]
    out += rng.sample(static, k=min(2, len(static)))
    return out


def clip_caption(clip: dict[str, Any], rng: random.Random) -> str:
    base = caption_for({**clip["attributes"], "expression": "neutral"}, rng)
    events = []
    if clip["onset"] is not None:
        events.append(f"at frame {clip['onset'] + 1} the neutral expression turns {clip['expression']}")
    else:
        events.append("the expression stays neutral")
    if clip["blink_at"] is not None:
        events.append(f"the person blinks at frame {clip['blink_at'] + 1}")
    if clip["turn"] != "none":
        events.append(f"from frame {clip['turn_at'] + 1} the head turns toward the {clip['turn']} of the picture")
    if clip["talking"]:
        events.append("the person is talking")
    return f"{base} In the video, " + "; ".join(events) + "."


def make_clip(split: str, index: int, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The JSONL record and the clip spec of clip ``index`` (1-based) of ``split``."""
    rng = random.Random(_derive_seed("facebench-mini-video", MINI_VIDEO_VERSION, seed, split, index))
    clip = sample_clip(rng)
    doc_id = f"minivid-{split}-{index:04d}"
    attrs = {k: str(v) for k, v in clip["attributes"].items()}
    attrs.update(expression=clip["expression"], expression_change=_yn(clip["onset"] is not None),
                 blink=_yn(clip["blink_at"] is not None), head_turn=clip["turn"], talking=_yn(clip["talking"]))
    rec = {"doc_id": doc_id, "video": f"videos/{split}/{doc_id}.mp4", "caption": clip_caption(clip, rng),
           "qa": [q.to_dict() for q in clip_qa(clip, rng)], "attributes": attrs,
           "events": {"onset_frame": clip["onset"], "blink_frame": clip["blink_at"], "turn_frame": clip["turn_at"]}}
    return rec, clip


def _write_split(tmp: Path, split: str, n: int, seed: int) -> tuple[str, dict[str, str]]:
    from facebench.videoinput import write_video

    out_dir = tmp / "videos" / split
    out_dir.mkdir(parents=True)
    lines, shas = [], {}
    for i in range(1, n + 1):
        rec, clip = make_clip(split, i, seed)
        path = write_video(tmp / rec["video"], render_clip(clip), fps=FPS)
        shas[rec["video"]] = sha256_file(path)
        lines.append(json.dumps(rec, ensure_ascii=False, sort_keys=True))
    f = tmp / f"{split}.jsonl"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return sha256_file(f), shas


def build_mini_video(root: str | Path, n_test: int = 80, n_gallery: int = 120, seed: int = 20250312) -> Path:
    """Build the set at ``root`` unless complete (temp folder + rename, as the mini set)."""

    def write(tmp: Path) -> None:
        counts = {"test": n_test, "gallery": n_gallery}
        files, videos = {}, {}
        for split in SPLITS:
            files[f"{split}.jsonl"], shas = _write_split(tmp, split, counts[split], _derive_seed(seed, split))
            videos[split] = hashlib.sha256(canonical_json(shas).encode()).hexdigest()
        manifest = {"name": "facebench-mini-video", "version": MINI_VIDEO_VERSION, "seed": seed, "counts": counts,
                    "frames": FRAMES, "fps": FPS, "size": SIZE, "files": files, "videos_sha256": videos,
                    "videos_hash": "sha256 over the canonical JSON of {relative path: file sha256} of the split",
                    "dfer_classes": list(DFER_CLASSES)}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    return build_atomically(root, write)


def generator_identity() -> str:
    """The set's identity without building it: its version and the source of the mini package that
    generates it (renderer, attributes, captions, questions, this file). Baselines that answer from
    the set put it in their fingerprints."""
    from facebench.hashing import sha256_text

    sources = sorted(Path(__file__).parent.glob("*.py"))
    digest = sha256_text(canonical_json({p.name: sha256_file(p) for p in sources}))[:16]
    return f"mini-video-v{MINI_VIDEO_VERSION}:{digest}"


def default_root() -> Path:
    from facebench.paths import cache_root

    return cache_root() / "datasets" / f"mini-video-v{MINI_VIDEO_VERSION}"


class MiniVideoDataset(MiniDataset):
    """The bundled mini video set (splits ``test`` and ``gallery``), built on first use."""

    name = "mini-video"
    splits = SPLITS
    media_key = "videos_sha256"

    build = staticmethod(build_mini_video)
    default_root = staticmethod(default_root)
