"""VQAScore for each scorer type against a softmax / cross-entropy computed by hand from the
same network's logits (tiny random CLIP-FlanT5 and LLaVA saved to disk and loaded through the
real loaders), and against logprobs served by a local OpenAI-compatible server."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from facebench.metrics.base import MetricContext
from facebench.metrics.vqascore import VQAScore
from facebench.metrics.vqascore.base import QUESTION_TEMPLATE, SYSTEM_MSG
from facebench.types import Prediction

PROMPTS = ["a young woman with long blond hair", "a man with a short beard and glasses", "smiling"]


def _images(folder: Path) -> list[Path]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(0)
    out = []
    for i, (h, w) in enumerate([(40, 30), (32, 48), (36, 36)]):  # non-square: padding matters
        p = folder / f"{i}.png"
        Image.fromarray(rng.randint(0, 255, (h, w, 3), dtype=np.uint8)).save(p)
        out.append(p)
    return out


def _preds(imgs: list[Path], attributes: bool = False) -> list[Prediction]:
    attrs = [{"hair_color": "blonde", "hair_length": "long"}, {"facial_hair": "beard", "eyewear": "glasses"},
             {"expression": "smiling", "hat": "none"}]
    return [Prediction(item_id=f"i{k}", doc_id=f"i{k}", task="vqa", prompt=PROMPTS[k], images=[imgs[k]],
                       attributes=attrs[k] if attributes else {}) for k in range(3)]


def _ctx(root: Path, batch_size: int) -> MetricContext:
    return MetricContext(task="vqa", dataset="mini", run_dir=root, cache_dir=root / "cache", batch_size=batch_size)


def _pad(img, mean):
    from PIL import Image

    colour = tuple(int(x * 255) for x in mean)
    w, h = img.size
    s = max(w, h)
    out = Image.new("RGB", (s, s), colour)
    out.paste(img, ((s - w) // 2, (s - h) // 2))
    return out


# ------------------------------------------------------------------------------------ CLIP-FlanT5
@pytest.fixture(scope="module")
def cf5(tmp_path_factory):
    from tiny_metric_models import build_tiny_clip_flant5

    root = tmp_path_factory.mktemp("cf5")
    return {"dirs": build_tiny_clip_flant5(root / "m"), "imgs": _images(root / "imgs"), "root": root}


def _cf5_by_hand(dirs, img_path, text, slow: bool = True, resize: bool = True, bf16: bool = True,
                 truncation: str = "ids") -> float:
    """CLIP-FlanT5 re-assembled from its parts, following t2v_metrics@10d549b step by step:
    ``load_pretrained_model`` (slow T5 tokenizer = sentencepiece ids + ``</s>``;
    ``resize_token_embeddings(len(tokenizer))`` = the output rows beyond the tokenizer dropped from
    the softmax; ``model.to(bfloat16)``), ``t5_tokenizer_image_token`` (each side of ``<image>``
    with its own ``</s>``, the image as one id, ids cut to 2,048 before the image goes in),
    ``CLIPT5Model.forward`` (exp(−mean CE) over ``▁Yes </s>``, the CE in float32 as CUDA autocast
    takes it). The keyword arguments switch each step to facebench's named alternative."""
    import torch
    from safetensors import safe_open
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPVisionModel, T5Config, T5ForConditionalGeneration

    from facebench.images import load_image

    dtype = torch.bfloat16 if bf16 else torch.float32
    cfg = json.loads((dirs["model"] / "config.json").read_text())
    t5 = T5ForConditionalGeneration.from_pretrained(
        dirs["model"], config=T5Config(**{k: v for k, v in cfg.items() if k != "model_type"})).eval().to(dtype)
    vision = CLIPVisionModel.from_pretrained(dirs["vision"]).eval().to(dtype)
    proc = CLIPImageProcessor.from_pretrained(dirs["vision"])
    if slow:
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=str(dirs["tokenizer"] / "spiece.model"))
        extra = json.loads((dirs["tokenizer"] / "tokenizer_config.json").read_text()).get("extra_ids", 100)
        tok, n_tok = (lambda t: list(sp.encode(t)) + [sp.eos_id()]), sp.get_piece_size() + extra
    else:
        fast = AutoTokenizer.from_pretrained(dirs["tokenizer"])
        tok, n_tok = (lambda t: fast(t).input_ids), len(fast)
    with safe_open(str(dirs["model"] / "model.safetensors"), framework="pt") as f:
        w0, b0, w2, b2 = (f.get_tensor(f"mm_projector.{k}").to(dtype) for k in ("0.weight", "0.bias", "2.weight", "2.bias"))
    with torch.no_grad():
        pv = proc(images=[_pad(load_image(img_path), proc.image_mean)], return_tensors="pt")["pixel_values"].to(dtype)
        feats = vision(pv, output_hidden_states=True).hidden_states[-2][0, 1:]
        F = torch.nn.functional
        img_tokens = F.linear(F.gelu(F.linear(feats, w0, b0)), w2, b2)
        before, after = (SYSTEM_MSG + " USER: <image>\n" + QUESTION_TEMPLATE.format(text) + " ASSISTANT: ").split("<image>")
        ids = tok(before) + [-200] + tok(after)
        assert ids[len(tok(before)) - 1] == ids[-1] == 1  # each chunk carries its own </s>
        if truncation == "ids":
            ids = ids[:2048]
        cut = ids.index(-200)
        emb = t5.get_input_embeddings()
        x = torch.cat([emb(torch.tensor(ids[:cut])), img_tokens, emb(torch.tensor(ids[cut + 1:]))])
        if truncation == "embeds":
            x = x[:2048]
        yes = tok("Yes")
        assert len(yes) == 2 and yes[-1] == 1  # ▁Yes </s>
        dec_in = torch.tensor([[t5.config.decoder_start_token_id, yes[0]]])
        logits = t5(inputs_embeds=x[None], decoder_input_ids=dec_in).logits[0].float()
        if resize:
            logits = logits[:, :n_tok]
        logp = torch.log_softmax(logits.double(), -1)
        return math.exp((float(logp[0, yes[0]]) + float(logp[1, yes[1]])) / 2)


CF5_REFERENCE_LOADING = {"t5_tokenizer": "slow", "resize_embeddings": True, "dtype": "torch.bfloat16", "truncation": "ids"}


def test_clip_flant5_default_equals_t2v_metrics_by_hand(cf5):
    preds = _preds(cf5["imgs"])
    args = dict(scorer="clip-flant5", model=str(cf5["dirs"]["model"]), tokenizer=str(cf5["dirs"]["tokenizer"]))
    batched = VQAScore(key="vqascore_cf5", batch_size=3, **args).compute(preds, _ctx(cf5["root"] / "a", 3))[0]
    single = VQAScore(key="vqascore_cf5", batch_size=1, **args).compute(preds, _ctx(cf5["root"] / "b", 1))[0]
    assert batched.skipped is None, batched.skipped
    for p in preds:
        expected = _cf5_by_hand(cf5["dirs"], p.images[0], p.prompt)
        assert 0.0 < expected < 1.0
        assert single.per_item[p.item_id] == pytest.approx(expected, rel=1e-5)
        # bfloat16 (the reference's dtype) rounds differently in a padded batch: ~1e-4 here
        assert batched.per_item[p.item_id] == pytest.approx(expected, rel=2e-3)
    assert batched.details["i0"]["question"] == QUESTION_TEMPLATE.format(PROMPTS[0])
    fp = batched.extra["scorer"]
    assert fp["kind"] == "clip-flant5" and batched.extra["n_pairs"] == 3
    assert {k: fp[k] for k in CF5_REFERENCE_LOADING} == CF5_REFERENCE_LOADING
    assert fp["matches_t2v_metrics_loading"] is True


@pytest.mark.parametrize("change", [
    {"t5_tokenizer": "fast"}, {"resize_embeddings": False}, {"dtype": "float32"},
    {"t5_tokenizer": "fast", "resize_embeddings": "false", "dtype": "float32"},  # facebench's earlier loading
])
def test_clip_flant5_named_variants_equal_their_hand_computation(cf5, change):
    """Each loading step switched to its named alternative moves the scores, and lands exactly on
    the hand computation with that step switched."""
    preds = _preds(cf5["imgs"])
    args = dict(scorer="clip-flant5", model=str(cf5["dirs"]["model"]), tokenizer=str(cf5["dirs"]["tokenizer"]),
                attribute_questions=False)
    tag = "-".join(f"{k}{v}" for k, v in change.items())
    mv = VQAScore(key="k", batch_size=1, **args, **change).compute(preds, _ctx(cf5["root"] / tag, 1))[0]
    default = VQAScore(key="k", batch_size=1, **args).compute(preds, _ctx(cf5["root"] / "defaults", 1))[0]
    hand = dict(slow=change.get("t5_tokenizer", "slow") == "slow",
                resize=str(change.get("resize_embeddings", True)).lower() == "true",
                bf16=change.get("dtype", "bfloat16") == "bfloat16")
    moved = 0.0
    for p in preds:
        expected = _cf5_by_hand(cf5["dirs"], p.images[0], p.prompt, **hand)
        assert mv.per_item[p.item_id] == pytest.approx(expected, rel=1e-5)
        moved = max(moved, abs(mv.per_item[p.item_id] / default.per_item[p.item_id] - 1.0))
    assert moved > 5e-4, f"{change} does not change any score (max relative change {moved:.2g})"
    assert mv.extra["scorer"]["matches_t2v_metrics_loading"] is False


def test_clip_flant5_truncates_ids_before_the_image_like_t2v_metrics(cf5, tmp_path):
    """A prompt of > 2,048 ids: the reference cuts the ids (image still one id) then inserts the
    image; ``truncation=embeds`` cuts the spliced sequence instead — different encoder inputs."""
    from facebench.metrics.vqascore.clip_flant5 import CLIPFlanT5Scorer

    long = " ".join(["a young woman with long blond hair and blue eyes"] * 230)
    preds = [Prediction(item_id="long", doc_id="long", task="vqa", prompt=long, images=[cf5["imgs"][0]])]
    s = CLIPFlanT5Scorer(model=str(cf5["dirs"]["model"]), tokenizer=str(cf5["dirs"]["tokenizer"]))
    s.load()
    assert len(s.input_ids(QUESTION_TEMPLATE.format(long))) == 2048
    out = {}
    for mode in ("ids", "embeds"):
        mv = VQAScore(key="k", scorer="clip-flant5", model=str(cf5["dirs"]["model"]),
                      tokenizer=str(cf5["dirs"]["tokenizer"]), truncation=mode,
                      attribute_questions=False).compute(preds, _ctx(tmp_path / mode, 1))[0]
        out[mode] = mv.per_item["long"]
        expected = _cf5_by_hand(cf5["dirs"], cf5["imgs"][0], long, truncation=mode)
        assert out[mode] == pytest.approx(expected, rel=1e-5)
    assert out["ids"] != out["embeds"]


def test_clip_flant5_slow_tokenizer_needs_spiece_model_and_sentencepiece(cf5, tmp_path, monkeypatch):
    import shutil
    import sys

    tok = tmp_path / "tok"
    shutil.copytree(cf5["dirs"]["tokenizer"], tok)
    (tok / "spiece.model").unlink()
    preds = _preds(cf5["imgs"])
    args = dict(scorer="clip-flant5", model=str(cf5["dirs"]["model"]), attribute_questions=False)
    mv = VQAScore(key="vqascore_cf5", tokenizer=str(tok), **args).compute(preds, _ctx(tmp_path / "a", 3))[0]
    assert mv.value is None and "spiece.model" in mv.skipped and "vqascore_cf5.t5_tokenizer=fast" in mv.skipped
    monkeypatch.setitem(sys.modules, "sentencepiece", None)  # not installed
    mv = VQAScore(key="vqascore_cf5", tokenizer=str(cf5["dirs"]["tokenizer"]), **args).compute(
        preds, _ctx(tmp_path / "b", 3))[0]
    assert mv.value is None and "pip install sentencepiece" in mv.skipped


def test_clip_flant5_sharded_bin_checkpoint_loads_the_same(cf5, tmp_path):
    from tiny_metric_models import build_tiny_clip_flant5

    dirs = build_tiny_clip_flant5(tmp_path / "bin", fmt="bin_sharded")
    assert not list(dirs["model"].glob("*.safetensors")) and (dirs["model"] / "pytorch_model.bin.index.json").is_file()
    preds = _preds(cf5["imgs"])
    mv = {}
    for name, d in (("st", cf5["dirs"]), ("bin", dirs)):
        mv[name] = VQAScore(key="k", scorer="clip-flant5", model=str(d["model"]), tokenizer=str(d["tokenizer"]),
                            attribute_questions=False).compute(preds, _ctx(tmp_path / name, 3))[0]
    for p in preds:  # same seed, same weights, two file layouts → same scores
        assert mv["bin"].per_item[p.item_id] == pytest.approx(mv["st"].per_item[p.item_id], rel=1e-6)


def test_scores_are_cached_per_scorer_image_and_text(cf5, monkeypatch):
    from facebench.metrics.vqascore.clip_flant5 import CLIPFlanT5Scorer

    preds = _preds(cf5["imgs"])
    args = dict(scorer="clip-flant5", model=str(cf5["dirs"]["model"]), tokenizer=str(cf5["dirs"]["tokenizer"]))
    ctx = _ctx(cf5["root"] / "cache_test", 2)
    first = VQAScore(key="k", **args).compute(preds, ctx)[0]
    assert first.extra["cache_hits"] == 0

    def boom(self):
        raise AssertionError("the model must not be loaded when every score is cached")

    monkeypatch.setattr(CLIPFlanT5Scorer, "load", boom)
    second = VQAScore(key="k", **args).compute(preds, ctx)[0]
    assert second.extra["cache_hits"] == 3 and second.per_item == first.per_item
    # a different question template is a different cache entry (→ needs the model → our boom)
    with pytest.raises(AssertionError):
        VQAScore(key="k", question_template='Is this "{}"?', **args).compute(preds, ctx)


def test_attribute_family_questions(cf5):
    preds = _preds(cf5["imgs"], attributes=True)
    args = dict(scorer="clip-flant5", model=str(cf5["dirs"]["model"]), tokenizer=str(cf5["dirs"]["tokenizer"]))
    out = VQAScore(key="vqascore_cf5", **args).compute(preds, _ctx(cf5["root"] / "attr", 4))
    assert [m.name for m in out] == ["vqascore_cf5", "vqascore_cf5_attr"]
    attr = out[1]
    # hat=none is not asked (negations)
    assert set(attr.per_attribute) == {"hair_color", "hair_length", "facial_hair", "eyewear", "expression"}
    assert attr.details["i0"]["phrases"]["hair_color"] == "blonde hair"
    expected = _cf5_by_hand(cf5["dirs"], preds[0].images[0], "blonde hair")
    assert attr.details["i0"]["families"]["hair_color"] == pytest.approx(expected, rel=2e-3)  # batched bfloat16
    fams = attr.details["i1"]["families"]
    assert attr.per_item["i1"] == pytest.approx(np.mean(list(fams.values())))


def test_clip_flant5_without_weights_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    mv = VQAScore(key="vqascore_cf5", scorer="clip-flant5", model="zhiqiulin/clip-flant5-xxl",
                  tokenizer="google/flan-t5-xxl").compute(_preds(_images(tmp_path)), _ctx(tmp_path, 2))[0]
    assert mv.value is None and "zhiqiulin/clip-flant5-xxl" in mv.skipped and "fix:" in mv.skipped
    assert "vqascore_cf5.model=" in mv.skipped


# ----------------------------------------------------------------------------------------- LLaVA
@pytest.fixture(scope="module")
def llava(tmp_path_factory):
    from tiny_metric_models import build_tiny_llava

    root = tmp_path_factory.mktemp("llava")
    return {"dir": build_tiny_llava(root / "m"), "imgs": _images(root / "imgs"), "root": root}


def _llava_by_hand(model_dir, img_path, text, mode: str) -> float:
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from facebench.images import load_image

    proc = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir).eval()
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION_TEMPLATE.format(text)}]}]
    prompt = proc.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    yes = proc.tokenizer("Yes", add_special_tokens=False).input_ids
    image = _pad(load_image(img_path), proc.image_processor.image_mean)
    with torch.no_grad():
        if mode == "first_token":
            inputs = proc(images=[image], text=[prompt], return_tensors="pt")
            return float(torch.softmax(model(**inputs).logits[0, -1].double(), -1)[yes[0]])
        inputs = proc(images=[image], text=[prompt], return_tensors="pt")
        target = yes + [proc.tokenizer.eos_token_id]  # "Yes" as generated, then </s>
        inputs["input_ids"] = torch.cat([inputs["input_ids"], torch.tensor([target])], dim=1)
        inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
        logp = torch.log_softmax(model(**inputs).logits[0].double(), -1)
        n = inputs["input_ids"].shape[1]
        lps = [float(logp[n - len(target) - 1 + j, t]) for j, t in enumerate(target)]
        return math.exp(sum(lps) / len(lps))


@pytest.mark.parametrize("mode", ["first_token", "sequence"])
def test_hf_vlm_chat_template_variant_equals_hand_computed_softmax(llava, mode):
    """The named non-default variant ``chat_first_token`` (and its ``sequence`` override)."""
    preds = _preds(llava["imgs"])
    mv = VQAScore(key="vqascore_lv", scorer="hf-vlm", model=str(llava["dir"]), variant="chat_first_token",
                  answer_mode=mode, batch_size=3).compute(preds, _ctx(llava["root"] / mode, 3))[0]  # left-padded
    assert mv.skipped is None, mv.skipped
    for p in preds:
        expected = _llava_by_hand(llava["dir"], p.images[0], p.prompt, mode)
        assert 0.0 < expected < 1.0
        assert mv.per_item[p.item_id] == pytest.approx(expected, rel=1e-4)
    fp = mv.extra["scorer"]
    assert fp["prompt_style"] == "chat_template" and fp["answer_mode"] == mode and fp["vocab"] == "model"
    assert fp["variant"] == ("chat_first_token" if mode == "first_token" else "chat_first_token+overrides")
    assert mv.variant.endswith(":chat_first_token")


# ------------------------------------------------------------------ LLaVA-1.5 as t2v_metrics scores it
@pytest.fixture(scope="module")
def llava_port(tmp_path_factory):
    from tiny_metric_models import build_tiny_llava_hf_port

    root = tmp_path_factory.mktemp("llava_port")
    return {"dir": build_tiny_llava_hf_port(root / "m"), "imgs": _images(root / "imgs"), "root": root}


def _llava_t2v_by_hand(model_dir, img_path, text, vocab: str = "tokenizer", bf16: bool = True) -> float:
    """t2v_metrics@10d549b ``LLaVAModel.forward`` step by step on the llava-hf layout: the text
    ``SYSTEM USER: <image>\n{question} ASSISTANT: Yes</s>`` through ``tokenizer_image_token`` (each
    side of <image> tokenised alone, BOS only at the start, the image as id −200), labels masked
    up to len(ids of the question) − 1, the image id expanded to the processor's image tokens,
    float32 load then ``model.to(bfloat16)`` (``load_pretrained_model``: buffers such as RoPE's
    ``inv_freq`` are rounded too), mean cross-entropy of the shifted labels in float32,
    softmax over the original 32,000-style base vocabulary (``vocab=tokenizer``)."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from facebench.images import load_image

    dtype = torch.bfloat16 if bf16 else torch.float32
    proc = AutoProcessor.from_pretrained(model_dir)
    tok = proc.tokenizer
    model = AutoModelForImageTextToText.from_pretrained(model_dir).eval().to(dtype)

    def tokenizer_image_token(prompt: str) -> list[int]:
        chunks = [tok(c).input_ids for c in prompt.split("<image>")]
        assert chunks[0][0] == tok.bos_token_id and chunks[1][0] == tok.bos_token_id
        return [tok.bos_token_id] + chunks[0][1:] + [-200] + chunks[1][1:]

    question = SYSTEM_MSG + " USER: <image>\n" + QUESTION_TEMPLATE.format(text) + " ASSISTANT: "
    ids = tokenizer_image_token(question + "Yes</s>")
    n_masked = len(tokenizer_image_token(question)) - 1  # "because white space"
    labels = [-100] * n_masked + ids[n_masked:]
    assert tok.convert_ids_to_tokens(labels[n_masked:])[-1] == "</s>" and len(labels) - n_masked == 2
    image_id = tok.convert_tokens_to_ids("<image>")
    n_img = 16  # (32 px / patch 8)² patches, the CLS token dropped ('default' feature selection)
    cut = ids.index(-200)
    input_ids = ids[:cut] + [image_id] * n_img + ids[cut + 1:]
    labels = labels[:cut] + [-100] * n_img + labels[cut + 1:]
    image = _pad(load_image(img_path), proc.image_processor.image_mean)
    pixel = proc.image_processor(images=[image], return_tensors="pt")["pixel_values"].to(dtype)
    with torch.no_grad():
        ids_t = torch.tensor([input_ids])  # the reference passes attention_mask = input_ids.ne(pad)
        logits = model(input_ids=ids_t, attention_mask=torch.ones_like(ids_t), pixel_values=pixel).logits[0].float()
    if vocab == "tokenizer":
        logits = logits[:, : tok.vocab_size]
    shift_logits, shift_labels = logits[:-1], torch.tensor(labels[1:])
    loss = torch.nn.functional.cross_entropy(shift_logits.double(), shift_labels, ignore_index=-100)
    return math.exp(-float(loss))


def test_vqascore_lv_t2v_metrics_variant_equals_the_reference_by_hand(llava_port):
    preds = _preds(llava_port["imgs"])
    args = dict(scorer="hf-vlm", model=str(llava_port["dir"]), variant="t2v_metrics", attribute_questions=False)
    single = VQAScore(key="vqascore_lv", batch_size=1, **args).compute(preds, _ctx(llava_port["root"] / "s", 1))[0]
    batched = VQAScore(key="vqascore_lv", batch_size=3, **args).compute(preds, _ctx(llava_port["root"] / "b", 3))[0]
    assert single.skipped is None, single.skipped
    for p in preds:
        expected = _llava_t2v_by_hand(llava_port["dir"], p.images[0], p.prompt)
        assert 0.0 < expected < 1.0
        assert single.per_item[p.item_id] == pytest.approx(expected, rel=1e-5)
        assert batched.per_item[p.item_id] == pytest.approx(expected, rel=1e-5)  # right-padded: as alone
    fp = single.extra["scorer"]
    assert (fp["variant"], fp["prompt_style"], fp["answer_mode"], fp["vocab"], fp["dtype"], fp["cast"]) == (
        "t2v_metrics", "llava_t2v", "sequence", "tokenizer", "torch.bfloat16", "model")
    assert single.variant.endswith(":t2v_metrics")


def test_vqascore_lv_base_vocabulary_and_dtype_are_what_the_variant_names(llava_port):
    """Each t2v_metrics setting matters on a port whose output layer has more rows than tokens."""
    preds = _preds(llava_port["imgs"])[:2]
    base = dict(scorer="hf-vlm", model=str(llava_port["dir"]), variant="t2v_metrics", attribute_questions=False,
                batch_size=1)
    default = VQAScore(key="k", **base).compute(preds, _ctx(llava_port["root"] / "d", 1))[0]
    for change, hand in (({"vocab": "model"}, {"vocab": "model"}), ({"dtype": "float32"}, {"bf16": False})):
        mv = VQAScore(key="k", **base, **change).compute(preds, _ctx(llava_port["root"] / str(change), 1))[0]
        for p in preds:
            assert mv.per_item[p.item_id] == pytest.approx(
                _llava_t2v_by_hand(llava_port["dir"], p.images[0], p.prompt, **hand), rel=1e-5)
        moved = max(abs(mv.per_item[p.item_id] / default.per_item[p.item_id] - 1) for p in preds)
        assert moved > 1e-3, (change, moved)
        assert mv.extra["scorer"]["variant"] == "t2v_metrics+overrides"


def test_hf_vlm_t2v_ids_follow_tokenizer_image_token(llava_port):
    from facebench.metrics.vqascore.hf_vlm import HFVLMScorer

    s = HFVLMScorer(model=str(llava_port["dir"]), variant="t2v_metrics")
    s.load()
    q = QUESTION_TEMPLATE.format("x")
    assert s.prompt(q) == f"{SYSTEM_MSG} USER: <image>\n{q} ASSISTANT: "
    ids, start = s.t2v_ids(q)
    assert ids[0] == s.tokenizer.bos_token_id and ids.count(s.tokenizer.bos_token_id) == 1 and ids.count(-200) == 1
    assert s.tokenizer.convert_ids_to_tokens(ids[start:]) == ["ĠYes", "</s>"]  # ▁Yes </s> for Llama's tokenizer


def test_vqa_task_makes_t2v_metrics_the_default_of_the_paper_columns():
    import yaml

    from facebench_tasks import __file__ as tasks_init

    spec = yaml.safe_load((Path(tasks_init).parent / "vqa.yaml").read_text())
    args = {m["key"]: m.get("args", {}) for m in spec["metrics"]}
    assert args["vqascore_lv"]["variant"] == "t2v_metrics" and args["vqascore_lv"]["scorer"] == "hf-vlm"
    assert {k: args["vqascore_cf5"][k] for k in ("t5_tokenizer", "resize_embeddings", "dtype", "truncation")} == {
        "t5_tokenizer": "slow", "resize_embeddings": True, "dtype": "bfloat16", "truncation": "ids"}


# ---------------------------------------------------------------------------------------- OpenAI
def test_openai_scorer_reads_first_token_logprobs(tmp_path, monkeypatch):
    from openai_stub_server import StubOpenAIServer, StubResponse, chat_completion, error_body

    def handler(path, body, n):
        text = body["messages"][0]["content"][0]["text"]
        if PROMPTS[0] in text:
            return chat_completion("Yes", logprobs=[("Yes", -0.2, [("Yes", -0.2), ("No", -1.9), ("yes", -3.0)])])
        if PROMPTS[1] in text:
            return chat_completion("No", logprobs=[("No", -0.1, [("No", -0.1), ("Maybe", -2.5)])])
        return StubResponse(status=500, body=error_body("boom"))

    monkeypatch.setenv("FB_TEST_KEY", "sk-test")
    preds = _preds(_images(tmp_path / "imgs"))
    with StubOpenAIServer(handler) as srv:
        mv = VQAScore(key="vqascore_gpt", scorer="openai", model="gpt-4o", base_url=srv.base_url,
                      api_key_env="FB_TEST_KEY", max_retries=0).compute(preds, _ctx(tmp_path, 3))[0]
        bodies = [b for _, b, _ in srv.requests]
        # rerun: the two good answers come from the cache; only the failed one is asked again
        srv.reset()
        again = VQAScore(key="vqascore_gpt", scorer="openai", base_url=srv.base_url, api_key_env="FB_TEST_KEY",
                         max_retries=0).compute(preds, _ctx(tmp_path, 3))[0]
        assert srv.count == 1
    assert mv.per_item["i0"] == pytest.approx(math.exp(-0.2) + math.exp(-3.0), rel=1e-9)
    assert mv.per_item["i1"] == 0.0  # "Yes"/"yes" not in the top logprobs: counted
    assert mv.per_item["i2"] is None  # a failed request is a failed item, never a number
    assert mv.extra["n_yes_not_in_top_k"] == 1 and mv.extra["n_failed_pairs"] == 1 and mv.extra["errors"]
    b = bodies[0]
    assert b["logprobs"] is True and b["top_logprobs"] == 20 and b["max_tokens"] == 1 and b["model"] == "gpt-4o"
    parts = b["messages"][0]["content"]
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert {p["text"] for b in bodies for p in b["messages"][0]["content"] if p["type"] == "text"} == {
        QUESTION_TEMPLATE.format(t) for t in PROMPTS}
    assert again.extra["cache_hits"] == 2


def test_openai_without_key_is_skipped(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    mv = VQAScore(key="vqascore_gpt", scorer="openai").compute(_preds(_images(tmp_path)), _ctx(tmp_path, 2))[0]
    assert mv.value is None and "OPENAI_API_KEY" in mv.skipped and "fix:" in mv.skipped
