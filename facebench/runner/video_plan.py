"""Work items of a video task (a task YAML with ``video:``): one request per clip (caption mode)
or per question (vqa mode), each carrying the clip's hash and the task's frame-sampling policy.

``--gen_kwargs video_frames=N`` / ``video_fps=F`` / ``video_max_frames=M`` override the YAML's
policy for one run; they are taken out of the request parameters and put in the policy, so the
cache key changes through the policy, as with the YAML."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from facebench.errors import DatasetError, FacebenchError
from facebench.types import ChatRequest, Prediction, Sample
from facebench.videoinput import VideoPolicy, VideoRef

if TYPE_CHECKING:
    from facebench.runner.plan import WorkItem
    from facebench.taskconfig import TaskConfig

OVERRIDES = {"video_frames": "frames", "video_fps": "fps", "video_max_frames": "max_frames"}
SELECT_KEYS = ("qa_family",)  # which of a clip's questions the task asks (e.g. only the DFER one)


def parse_video_config(raw: Any, where: str) -> tuple[VideoPolicy, str | None]:
    """A task YAML's ``video:`` mapping → (frame policy, question family to ask or None: all)."""
    if not isinstance(raw, dict):
        raise FacebenchError(f"{where}: must be a mapping like {{frames: 8}} or {{fps: 2, max_frames: 16}}")
    family = raw.get("qa_family")
    if family is not None and (not isinstance(family, str) or not family.strip()):
        raise FacebenchError(f"{where}: qa_family must be a question family name, got {family!r}")
    policy = VideoPolicy.from_config({k: v for k, v in raw.items() if k not in SELECT_KEYS}, where)
    return policy, family


def task_policy(task: TaskConfig, params: dict[str, Any]) -> tuple[VideoPolicy, dict[str, Any]]:
    """The policy a run uses (the YAML's, with ``video_*`` request parameters over it) and the
    request parameters left after taking those out."""
    raw = dict(task.video)
    rest = dict(params)
    for key, field in OVERRIDES.items():
        if key in rest:
            value = rest.pop(key)
            if field == "frames":
                raw.pop("fps", None)
            elif field == "fps":
                raw.pop("frames", None)
            raw[field] = value
    return parse_video_config(raw, f"task '{task.name}' video")[0], rest


def clip_sha(sample: Sample) -> str:
    from facebench.data.integrity import file_sha256

    try:
        return file_sha256(sample.video)
    except OSError:
        raise DatasetError(f"doc {sample.doc_id}: video not found: {sample.video}") from None


def plan_video_task(task: TaskConfig, samples: list[Sample], params: dict[str, Any]) -> list[WorkItem]:
    from facebench.runner.plan import WorkItem, _check_prompt, _Fields

    policy, params = task_policy(task, params)
    family = task.video.get("qa_family")
    items: list[WorkItem] = []
    for s in samples:
        if s.video is None:
            raise DatasetError(f"doc {s.doc_id}: video task '{task.name}' needs a video (this dataset has none; "
                               "use a video dataset such as --dataset mini-video or a DFEW/MAFW folder)")
        ref = VideoRef(path=s.video, sha256=clip_sha(s), policy=policy)
        meta: dict[str, Any] = {"video": str(s.video), "video_policy": policy.to_dict()}
        if task.mode == "caption":
            q = _check_prompt(task.prompt, s.doc_id, "question")
            req = ChatRequest(doc_id=s.doc_id, image=None, messages=({"role": "user", "content": q},),
                              params=params, video=ref)
            pred = Prediction(item_id=s.doc_id, doc_id=s.doc_id, task=task.name, prompt=q, reference=s.caption,
                              attributes=dict(s.attributes), meta=meta)
            items.append(WorkItem(s.doc_id, req, pred))
            continue
        asked = [(i, qa) for i, qa in enumerate(s.qa) if family is None or qa.family == family]
        if family is not None and not asked:
            raise DatasetError(f"doc {s.doc_id}: task '{task.name}' asks the '{family}' question, which this clip "
                               "does not have")
        for i, qa in asked:
            q = _check_prompt(task.prompt.format_map(_Fields(question=qa.question)), s.doc_id, f"question {i}")
            item_id = f"{s.doc_id}#q{i}"
            req = ChatRequest(doc_id=s.doc_id, image=None, messages=({"role": "user", "content": q},),
                              params=params, video=ref)
            pred = Prediction(item_id=item_id, doc_id=s.doc_id, task=task.name, prompt=q, reference=qa.answer,
                              qa=qa, attributes=dict(s.attributes), meta={**meta, "caption": s.caption})
            items.append(WorkItem(item_id, req, pred))
    return items
