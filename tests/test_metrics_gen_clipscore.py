"""CLIPScore variants: the formula on fixed embeddings, and end to end with a tiny random
open_clip model saved as a local checkpoint and loaded through facebench's real loader."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from facebench.metrics.base import MetricContext
from facebench.metrics.clipscore import CLIPScore, clip_scores
from facebench.types import Prediction


def test_formula_on_fixed_embeddings_per_sample_clamp():
    rng = np.random.RandomState(0)
    img, txt = rng.randn(40, 16), rng.randn(40, 16)
    txt[:5] = img[:5] * 3.0  # cos = 1
    txt[5:10] = -img[5:10]  # cos = -1
    hessel = clip_scores(img, txt, "hessel")
    clip_t = clip_scores(img, txt, "clip_t")
    for i in range(40):
        dot = sum(a * b for a, b in zip(img[i], txt[i]))
        cos = dot / (math.sqrt(sum(a * a for a in img[i])) * math.sqrt(sum(b * b for b in txt[i])))
        assert hessel[i] == pytest.approx(2.5 * max(cos, 0.0), abs=1e-12)
        assert clip_t[i] == pytest.approx(100.0 * cos, abs=1e-10)
    assert np.allclose(hessel[:5], 2.5) and np.allclose(hessel[5:10], 0.0) and np.allclose(clip_t[5:10], -100.0)
    assert (clip_t < 0).any() and (hessel >= 0).all()
    # per-sample clamp (Hessel) ≠ clamp after averaging (torchmetrics): both are what they claim
    assert hessel.mean() > 2.5 * max(clip_t.mean() / 100.0, 0.0)
    with pytest.raises(ValueError):
        clip_scores(img, txt, "nope")


def _images(folder: Path, n: int) -> list[Path]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(3)
    out = []
    for i in range(n):
        p = folder / f"{i}.png"
        Image.fromarray(rng.randint(0, 255, (40 + 4 * i, 36, 3), dtype=np.uint8)).save(p)
        out.append(p)
    return out


LONG = "a young woman with long wavy blond hair, blue eyes, a warm smile, small earrings, " * 4


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from tiny_metric_models import TINY_OPEN_CLIP_CFG, build_tiny_open_clip

    root = tmp_path_factory.mktemp("clipscore")
    folder = build_tiny_open_clip(root / "tiny", seed=1)  # seed 1: cosines of both signs
    imgs = _images(root / "imgs", 5)
    preds = [
        Prediction(item_id="a", doc_id="a", task="clip", prompt="a man with a beard", images=[imgs[0], imgs[1]]),
        Prediction(item_id="b", doc_id="b", task="clip", prompt="a smiling woman", images=[imgs[2]]),
        Prediction(item_id="c", doc_id="c", task="clip", prompt=LONG, images=[imgs[3]]),
        Prediction(item_id="d", doc_id="d", task="clip", prompt="glasses", images=[imgs[4]]),
    ]
    cfg_file = root / "facebench-tiny-clip.json"  # a named architecture for the pretrained=FILE path
    cfg_file.write_text(json.dumps(TINY_OPEN_CLIP_CFG))
    ctx = MetricContext(task="clip", dataset="test", run_dir=root, cache_dir=root / "cache", batch_size=2)
    return {"folder": folder, "preds": preds, "ctx": ctx, "cfg_file": cfg_file}


def _by_hand(folder: Path, preds, prefix: str, variant: str) -> dict[str, float]:
    """open_clip's own pipeline; its tokenizer keeps the end token of a long caption."""
    import open_clip
    import torch

    from facebench.images import load_image

    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{folder}")
    tok = open_clip.get_tokenizer(f"local-dir:{folder}")
    model.eval()
    out = {}
    with torch.no_grad():
        for p in preds:
            t = model.encode_text(tok([prefix + p.prompt]))[0].numpy()
            vals = []
            for img in p.images:
                e = model.encode_image(preprocess(load_image(img))[None])[0].numpy()
                cos = float(e @ t / (np.linalg.norm(e) * np.linalg.norm(t)))
                vals.append(2.5 * max(cos, 0.0) if variant == "hessel" else 100.0 * cos)
            out[p.item_id] = float(np.mean(vals))
    return out


@pytest.mark.parametrize("variant,prefix", [("hessel", "A photo depicts "), ("clip_t", "")])
def test_end_to_end_tiny_open_clip(setup, variant, prefix):
    """Both variants with end-token-preserving truncation against open_clip run by hand (for
    ``clip_t`` that is the named non-default ``truncation=keep_end_token``)."""
    mv = CLIPScore(key=f"k_{variant}", variant=variant, model=f"local-dir:{setup['folder']}",
                   truncation="keep_end_token").compute(setup["preds"], setup["ctx"])[0]
    assert mv.skipped is None, mv.skipped
    expected = _by_hand(setup["folder"], setup["preds"], prefix, variant)
    assert set(mv.per_item) == set(expected)
    for k, v in expected.items():
        assert mv.per_item[k] == pytest.approx(v, abs=1e-5)
    assert mv.value is None and mv.aggregate == "mean"  # the runner aggregates
    per_image = [s for d in mv.details.values() for s in d["per_image"]]
    if variant == "hessel":  # the per-sample clamp is exercised: some pairs clamp to 0, some do not
        assert min(per_image) == 0.0 and max(per_image) > 0.0
    else:
        assert min(per_image) < 0.0 < max(per_image)
    tr = mv.extra["truncation"]
    assert tr["context_length"] == 77 and tr["n_items"] == 4 and tr["n_truncated"] == 1
    assert tr["fraction_truncated"] == pytest.approx(0.25) and tr["max_tokens"] > 77
    assert mv.details["c"]["truncated"] is True and mv.details["a"]["truncated"] is False
    assert len(mv.details["a"]["per_image"]) == 2
    assert mv.extra["prefix"] == prefix and mv.extra["checkpoint_sha256"]
    assert tr["policy"] == "keep_end_token" and mv.variant.endswith(":keep_end_token")
    if variant == "clip_t":
        all_vals = [s for d in mv.details.values() for s in d["per_image"]]
        assert mv.extra["torchmetrics_value"] == pytest.approx(max(float(np.mean(all_vals)), 0.0))


def test_named_architecture_with_local_checkpoint_file_and_env(setup, monkeypatch):
    import open_clip

    open_clip.add_model_config(setup["cfg_file"])
    ckpt = setup["folder"] / "open_clip_model.safetensors"
    expected = _by_hand(setup["folder"], setup["preds"], "", "clip_t")
    by_arg = CLIPScore(key="clip_t", variant="clip_t", model="facebench-tiny-clip", weights=str(ckpt),
                       truncation="keep_end_token").compute(
        setup["preds"], setup["ctx"])[0]
    monkeypatch.setenv("FACEBENCH_CLIP_CHECKPOINT_FACEBENCH_TINY_CLIP", str(ckpt))
    by_env = CLIPScore(key="clip_t", variant="clip_t", model="facebench-tiny-clip", pretrained=None,
                       truncation="keep_end_token").compute(
        setup["preds"], setup["ctx"])[0]
    for mv in (by_arg, by_env):
        assert mv.skipped is None, mv.skipped
        for k, v in expected.items():
            assert mv.per_item[k] == pytest.approx(v, abs=1e-5)


def test_missing_weights_offline_is_skipped(setup, monkeypatch):
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache("timm/vit_base_patch32_clip_224.openai", "open_clip_model.safetensors"), str):
        pytest.skip("real ViT-B-32 weights are in the local HF cache")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    mv = CLIPScore(key="clipscore_hessel", variant="hessel").compute(setup["preds"], setup["ctx"])[0]
    assert mv.value is None and "fix:" in mv.skipped
    assert "clipscore_hessel.weights=PATH" in mv.skipped and "FACEBENCH_CLIP_CHECKPOINT_VIT_B_32" in mv.skipped
    mv = CLIPScore(key="x", variant="clip_t", weights="/nonexistent.pt").compute(setup["preds"], setup["ctx"])[0]
    assert mv.value is None and "not found" in mv.skipped


# ------------------------------------------------------------------ long captions: the two truncations
LONG_CAPTIONS = [
    "a young woman with long wavy blond hair, bright blue eyes and a warm smile, wearing small gold earrings, "
    "light pink lipstick and a thin silver necklace; she has arched eyebrows, rosy cheeks, an oval face and a "
    "calm, happy expression, photographed in soft daylight against a plain grey wall with gentle shadows. "
    "Her skin is smooth and fair, her nose is small and straight, and her teeth show slightly as she smiles.",
    "a middle aged man with short black hair greying at the temples, a neatly trimmed beard and moustache, dark "
    "brown eyes behind rectangular glasses, a slight frown and furrowed brow, wearing a navy jacket over a white "
    "shirt; his square jaw, thick eyebrows and serious, focused look suggest concentration under studio light. "
    "A small scar crosses his left cheek, and his ears are partly hidden by the frame of his glasses.",
    "an elderly woman with curly white hair, deep wrinkles, green eyes, pearl earrings and red lipstick, laughing "
    "with her mouth open and eyes narrowed, head tilted to one side, a floral scarf around her neck, freckles on "
    "her cheeks and nose, a round face, warm evening light and a blurred garden in the background behind her. "
    "Her hands are raised near her chin and a thin gold ring is visible on one finger as she laughs.",
]
SHORT_CAPTIONS = ["a man with a beard", "a smiling woman"]


@pytest.fixture(scope="module")
def long_setup(tmp_path_factory):
    """32×32 images (the tiny CLIP's input size: no resize, so open_clip's and transformers'
    image pipelines see the same pixels) and captions of > 77 tokens."""
    from PIL import Image
    from tiny_metric_models import build_tiny_open_clip, hf_clip_from_open_clip

    root = tmp_path_factory.mktemp("clip_long")
    folder = build_tiny_open_clip(root / "tiny", seed=1)
    hf, processor = hf_clip_from_open_clip(folder, root / "hf")
    rng = np.random.RandomState(5)
    caps = LONG_CAPTIONS + SHORT_CAPTIONS
    paths = []
    for i in range(len(caps)):
        p = root / f"{i}.png"
        Image.fromarray(rng.randint(0, 255, (32, 32, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    preds = [Prediction(item_id=f"p{i}", doc_id=f"p{i}", task="clip", prompt=c, images=[paths[i]])
             for i, c in enumerate(caps)]
    ctx = MetricContext(task="clip", dataset="test", run_dir=root, cache_dir=root / "cache", batch_size=3)
    return {"folder": folder, "hf": hf, "processor": processor, "preds": preds, "paths": paths, "ctx": ctx}


def _torchmetrics_per_pair(long_setup) -> list[float]:
    """torchmetrics' CLIPScore update on the same weights (ported to transformers), per pair."""
    import torch
    from PIL import Image
    from torchmetrics.functional.multimodal.clip_score import _clip_score_update

    imgs = [torch.from_numpy(np.asarray(Image.open(p).convert("RGB")).copy()).permute(2, 0, 1)
            for p in long_setup["paths"]]
    with torch.no_grad(), pytest.warns(UserWarning, match="longer than"):
        score, n = _clip_score_update(imgs, [p.prompt for p in long_setup["preds"]], long_setup["hf"],
                                      long_setup["processor"])
    assert n == len(imgs)
    return [float(x) for x in score]


def test_clip_t_default_equals_torchmetrics_on_long_captions(long_setup):
    import torch
    from torchmetrics.multimodal.clip_score import CLIPScore as TMCLIPScore

    import open_clip

    tok = open_clip.get_tokenizer(f"local-dir:{long_setup['folder']}")
    counts = [len(tok.encode(c)) + 2 for c in LONG_CAPTIONS]
    assert min(counts) > 77  # really long: torchmetrics cuts the end token off each of them
    mv = CLIPScore(key="clip_t", variant="clip_t", model=f"local-dir:{long_setup['folder']}").compute(
        long_setup["preds"], long_setup["ctx"])[0]
    assert mv.skipped is None, mv.skipped
    ref = _torchmetrics_per_pair(long_setup)
    for p, r in zip(long_setup["preds"], ref):
        assert mv.per_item[p.item_id] == pytest.approx(r, abs=5e-5)
    tr = mv.extra["truncation"]
    assert tr["policy"] == "torchmetrics" and tr["n_truncated"] == 3 and tr["n_items"] == 5
    assert mv.variant == f"clip_t:local-dir:{long_setup['folder']}/local:torchmetrics"
    # torchmetrics' reported number: max(mean, 0) over the same pairs
    tm = TMCLIPScore(model_name_or_path=lambda: (long_setup["hf"], long_setup["processor"]))
    imgs = [torch.from_numpy(np.asarray(__import__("PIL.Image").Image.open(p).convert("RGB")).copy()).permute(2, 0, 1)
            for p in long_setup["paths"]]
    with pytest.warns(UserWarning):
        tm.update(imgs, [p.prompt for p in long_setup["preds"]])
    assert mv.extra["torchmetrics_value"] == pytest.approx(float(tm.compute()), abs=2e-4)


def test_keep_end_token_equals_open_clip_and_differs_from_torchmetrics_on_long_captions(long_setup):
    keep = CLIPScore(key="clip_t", variant="clip_t", model=f"local-dir:{long_setup['folder']}",
                     truncation="keep_end_token").compute(long_setup["preds"], long_setup["ctx"])[0]
    expected = _by_hand(long_setup["folder"], long_setup["preds"], "", "clip_t")
    for k, v in expected.items():
        assert keep.per_item[k] == pytest.approx(v, abs=1e-5)
    ref = _torchmetrics_per_pair(long_setup)
    gaps = [abs(keep.per_item[p.item_id] - r) for p, r in zip(long_setup["preds"], ref)]
    assert max(gaps[:3]) > 0.5  # long captions: the two truncations read different tokens
    assert max(gaps[3:]) < 5e-5  # short captions: identical
    assert keep.extra["truncation"]["n_truncated"] == 3


def test_unknown_truncation_is_refused():
    with pytest.raises(ValueError, match="truncation"):
        CLIPScore(key="clip_t", variant="clip_t", truncation="middle")
