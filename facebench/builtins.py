"""The in-repo plugin table: names → "module:attr", imported lazily on first use.

Baseline model families live in ``baselines/`` and register through the ``facebench.models``
entry point group like any third-party plugin (see pyproject.toml)."""
from __future__ import annotations

from facebench.registry import DATASETS, METRICS, MODELS

_MODELS = {
    "dummy": "facebench.adapters.dummy:DummyAdapter",
    "retrieval": "facebench.adapters.retrieval:RetrievalAdapter",
    "oracle": "facebench.adapters.oracle:OracleAdapter",
    "hf-vlm": "facebench.adapters.hf_vlm:HFVLMAdapter",
    "janus": "facebench.adapters.janus:JanusAdapter",
    "diffusers": "facebench.adapters.diffusers_t2i:DiffusersAdapter",
    "openai-api": "facebench.adapters.openai_api:OpenAIAPIAdapter",
}

_METRICS = {
    # need no external weights
    "exact_match": "facebench.metrics.qa:ExactMatch",
    "attr_accuracy": "facebench.metrics.qa:AttributeAccuracy",
    "caption_attr_recall": "facebench.metrics.qa:CaptionAttributeRecall",
    "attr_probe": "facebench.metrics.probe:AttributeProbe",
    "uar": "facebench.metrics.dfer:UAR",
    "war": "facebench.metrics.dfer:WAR",
    "video_caption_attr_recall": "facebench.metrics.video_caption:VideoCaptionAttributeRecall",
    # generation metrics
    "fid": "facebench.metrics.fid:FID",
    "kid": "facebench.metrics.fid:KID",
    "clipscore": "facebench.metrics.clipscore:CLIPScore",
    "vqascore": "facebench.metrics.vqascore:VQAScore",
    "face_detection": "facebench.metrics.face:FaceDetectionRate",
    "identity_diversity": "facebench.metrics.face:IdentityDiversity",
    # judged
    "vlm_score": "facebench.metrics.vlmscore:VLMScore",
    "judge": "facebench.metrics.judge:JudgeScore",
}

_DATASETS = {
    "unif2ace": "facebench.data.hf:UniF2aceDataset",
    "mini": "facebench.data.mini:MiniDataset",
    "mini-video": "facebench.data.mini.video:MiniVideoDataset",
}

_done = False


def register_builtins() -> None:
    global _done
    if _done:
        return
    for table, reg in ((_MODELS, MODELS), (_METRICS, METRICS), (_DATASETS, DATASETS)):
        for name, target in table.items():
            if name not in reg._lazy:
                reg.add_lazy(name, target)
    _done = True
