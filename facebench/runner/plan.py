"""Turn (task, samples) into work items: one request per generation prompt, per caption
request, or per VQA question. Per-sample seeds make outputs independent of batching."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from facebench.errors import DatasetError, FacebenchError
from facebench.hashing import content_key, sha256_text
from facebench.taskconfig import TaskConfig
from facebench.types import ChatRequest, GenRequest, Prediction, Sample


@dataclass
class WorkItem:
    item_id: str
    request: GenRequest | ChatRequest
    prediction: Prediction  # ground truth filled, outputs empty
    key: str = ""  # content-addressed cache key


def derive_seed(base_seed: int, doc_id: str) -> int:
    """seed = base_seed + an offset derived from doc_id (stable across processes and batch sizes)."""
    return (int(base_seed) + int(sha256_text(doc_id)[:8], 16)) % (2**31 - 1024)


class _Fields(dict):
    def __missing__(self, key: str) -> str:
        raise FacebenchError(f"prompt template uses '{{{key}}}', which the sample does not have")


def image_sha(path: Path) -> str:
    """sha256 of an image file (stamped on size/mtime/inode: tasks and reruns share the work)."""
    from facebench.data.integrity import file_sha256

    try:
        return file_sha256(path)
    except OSError:
        raise DatasetError(f"image not found: {path}") from None


# Far above any real caption (~120 tokens); a longer text is a broken or hostile row.
MAX_PROMPT_CHARS = 20_000


def _check_prompt(text: str, doc_id: str, what: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise DatasetError(f"doc {doc_id}: empty {what}")
    if len(text) > MAX_PROMPT_CHARS:
        raise DatasetError(f"doc {doc_id}: {what} is {len(text):,} characters, over the {MAX_PROMPT_CHARS:,} limit")
    return text


def plan_task(task: TaskConfig, samples: list[Sample], seed: int) -> list[WorkItem]:
    items: list[WorkItem] = []
    if task.kind == "generation":
        g = task.gen_settings()
        for s in samples:
            prompt = _check_prompt(task.prompt.format_map(_Fields(caption=s.caption, **s.attributes)), s.doc_id, "prompt")
            req = GenRequest(doc_id=s.doc_id, prompt=prompt, n=g["n"], seed=derive_seed(seed, s.doc_id),
                             height=g["height"], width=g["width"], params=g["params"])
            pred = Prediction(item_id=s.doc_id, doc_id=s.doc_id, task=task.name, prompt=prompt, reference=s.caption,
                              attributes=dict(s.attributes), source_image=s.image)
            items.append(WorkItem(s.doc_id, req, pred))
        return items
    params = dict(task.gen_settings()["params"])
    if task.video:  # a video task: clips and a frame-sampling policy instead of images
        from facebench.runner.video_plan import plan_video_task

        return plan_video_task(task, samples, params)
    for s in samples:
        if s.image is None:
            raise DatasetError(f"doc {s.doc_id}: understanding task '{task.name}' needs an image")
        sha = image_sha(s.image)
        if task.mode == "caption":
            q = _check_prompt(task.prompt, s.doc_id, "question")
            req = ChatRequest(doc_id=s.doc_id, image=s.image, messages=({"role": "user", "content": q},),
                              params=params, image_sha256=sha)
            pred = Prediction(item_id=s.doc_id, doc_id=s.doc_id, task=task.name, prompt=q, reference=s.caption,
                              attributes=dict(s.attributes), source_image=s.image)
            items.append(WorkItem(s.doc_id, req, pred))
        else:
            for i, qa in enumerate(s.qa):
                q = _check_prompt(task.prompt.format_map(_Fields(question=qa.question)), s.doc_id, f"question {i}")
                item_id = f"{s.doc_id}#q{i}"
                req = ChatRequest(doc_id=s.doc_id, image=s.image, messages=({"role": "user", "content": q},),
                                  params=params, image_sha256=sha)
                # the caption rides along so a text-only judge (DeepSeek) can see what the image shows
                pred = Prediction(item_id=item_id, doc_id=s.doc_id, task=task.name, prompt=q, reference=qa.answer,
                                  qa=qa, attributes=dict(s.attributes), source_image=s.image,
                                  meta={"caption": s.caption})
                items.append(WorkItem(item_id, req, pred))
    return items


def assign_keys(items: list[WorkItem], model_fingerprint: str) -> None:
    for it in items:
        kind = "gen" if isinstance(it.request, GenRequest) else "chat"
        it.key = content_key("prediction", model_fingerprint, kind, it.request.to_dict())


def shard(items: list[WorkItem], rank: int, world_size: int) -> list[WorkItem]:
    """Items of one rank: by doc_id hash, so every process count splits the same docs consistently."""
    if world_size <= 1:
        return items
    return [it for it in items if int(sha256_text(it.prediction.doc_id)[:8], 16) % world_size == rank]
