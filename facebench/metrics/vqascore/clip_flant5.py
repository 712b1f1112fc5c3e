"""VQAScore with CLIP-FlanT5 (``zhiqiulin/clip-flant5-xxl`` / ``-xl``), re-implemented on plain
transformers classes (the reference package ``t2v-metrics`` pins torch 2.5 / transformers 4.49).
References below are to linzhiqiu/t2v_metrics at commit 10d549b (the last one with CLIP-FlanT5):
``t2v_metrics/models/vqascore_models/clip_t5_model.py`` (``CLIPT5Model``), ``mm_utils.py``
(``load_pretrained_model``, ``t5_tokenizer_image_token``) and ``clip_t5/model/language_model/clip_t5.py``.

Architecture (as published with the checkpoints):
- vision tower: a CLIP ViT (``mm_vision_tower`` in the checkpoint config, ``openai/clip-vit-large-
  patch14-336``), features = hidden state of layer ``mm_vision_select_layer`` (−2) without the CLS
  token ('patch'), i.e. 576 tokens for 336 px;
- projector ``mm_projector``: ``mlp2x_gelu`` = Linear(1024, d_model) → GELU → Linear(d_model, d_model)
  (``linear`` also supported), weights stored in the checkpoint as ``mm_projector.*``;
- Flan-T5 encoder–decoder: the encoder input is the token embeddings of the prompt with the
  projected image tokens spliced in at ``<image>``.

Scoring, as the reference code does:
- image padded to a square with the CLIP mean colour (``expand2square``), then the CLIP image
  processor (resize 336, centre crop, normalise);
- prompt ``SYSTEM + " USER: <image>\n" + question + " ASSISTANT: "``; each side of ``<image>`` is
  tokenised separately by the T5 tokenizer, so each ends with ``</s>``;
- labels = tokenised answer ``"Yes"`` → ``▁Yes </s>``; score = exp(−mean cross-entropy over the
  label tokens) = geometric mean of P(▁Yes) and P(</s> | ▁Yes).
Batches are right-padded with the padding masked out (T5 has relative positions, so a padded row
scores exactly as it would alone).

Loading, matched to the reference by default (each has a named alternative; all are recorded in
the scorer fingerprint, hence in ``extra["scorer"]`` and the score cache key):
``t5_tokenizer``       ``slow`` (default): the sentencepiece T5 tokenizer the reference loads with
                       ``use_fast=False`` (see ``t5_tokenizer.py``; needs ``spiece.model`` and the
                       ``sentencepiece`` package) | ``fast``: transformers' tokenizer.
``resize_embeddings``  ``true`` (default): ``model.resize_token_embeddings(len(tokenizer))`` as
                       ``load_pretrained_model`` does — Flan-T5 checkpoints carry 32,128 embedding and
                       output rows for a 32,100-token tokenizer, so the softmax runs over 32,100
                       tokens | ``false``: over all rows.
``dtype``              ``bfloat16`` (default): the reference casts the whole model (tower, projector,
                       T5) with ``model.to(dtype=torch.bfloat16)`` on every device and runs under CUDA
                       autocast; the cross-entropy is taken in float32 from the bfloat16 logits, as
                       autocast does on CUDA (``cross_entropy`` is on its float32 list). Tower,
                       projector and T5 are cast whole (``.to(dtype)``, buffers included) | ``float32``
                       | ``float16`` | ``auto`` (float32 on CPU, bfloat16 on accelerators).
``truncation``         ``ids`` (default): the token ids, with the image still one placeholder id, are
                       cut to 2,048 before the image features are inserted (``input_ids[:, :
                       model_max_length]``) | ``embeds``: the spliced sequence is cut to 2,048.
                       (Only prompts of ~1,500+ words reach either limit.)

Weights: ``model`` (hub id or local folder; default ``zhiqiulin/clip-flant5-xxl``), ``tokenizer``
(default ``google/flan-t5-xxl`` for -xxl, ``google/flan-t5-xl`` for -xl, or the model folder when
it holds tokenizer files), ``vision_tower`` (override of the config's ``mm_vision_tower``).
Offline, hub ids resolve from the HF cache only.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from facebench.metrics.vqascore.base import (
    ANSWER,
    IMAGE_TOKEN,
    SYSTEM_MSG,
    Scorer,
    ScorerError,
    expand2square,
    hub_or_local,
    local_fingerprint,
    mean_colour,
    quiet_transformers,
    torch_dtype,
)
from facebench.metrics.vqascore.weights_io import read_tensors

DEFAULT_MODEL = "zhiqiulin/clip-flant5-xxl"
DEFAULT_TOKENIZERS = {"clip-flant5-xxl": "google/flan-t5-xxl", "clip-flant5-xl": "google/flan-t5-xl"}
DEFAULT_VISION_TOWER = "openai/clip-vit-large-patch14-336"
CONTEXT_LEN = 2048
T5_TOKENIZERS = ("slow", "fast")
TRUNCATIONS = ("ids", "embeds")
IMAGE_PLACEHOLDER = -200  # t2v_metrics' IMAGE_TOKEN_INDEX: one id standing for the image until it is spliced in
CONVERSATIONS = {
    "t5_chat": SYSTEM_MSG + " USER: " + IMAGE_TOKEN + "\n{question} ASSISTANT: ",
    "t5_chat_no_system": "USER: " + IMAGE_TOKEN + "\n{question} ASSISTANT: ",
    "t5_plain": IMAGE_TOKEN + "{question}",
}


def format_prompt(question: str, conversation: str = "t5_chat") -> str:
    return CONVERSATIONS[conversation].format(question=question)


def build_projector(kind: str, in_dim: int, out_dim: int):
    import torch.nn as nn

    if kind == "linear":
        return nn.Linear(in_dim, out_dim)
    m = re.fullmatch(r"mlp(\d+)x_gelu", kind)
    if m:
        layers: list = [nn.Linear(in_dim, out_dim)]
        for _ in range(1, int(m.group(1))):
            layers += [nn.GELU(), nn.Linear(out_dim, out_dim)]
        return nn.Sequential(*layers)
    raise ScorerError(f"unknown mm_projector_type {kind!r} in the CLIP-FlanT5 config; fix: use a published checkpoint")


def _torch_dtype(name: str | None, device: str):
    return torch_dtype(name, device, gpu_default="bfloat16")


def _flag(v: Any) -> bool:
    return v if isinstance(v, bool) else str(v).strip().lower() in ("1", "true", "yes", "on")


class CLIPFlanT5Scorer(Scorer):
    kind = "clip-flant5"

    def __init__(self, model: str = DEFAULT_MODEL, tokenizer: str | None = None, vision_tower: str | None = None,
                 device: str = "cpu", dtype: str | None = "bfloat16", answer: str = ANSWER,
                 conversation: str = "t5_chat", pad_square: bool = True, t5_tokenizer: str = "slow",
                 resize_embeddings: bool | str = True, truncation: str = "ids", **_: Any):
        if conversation not in CONVERSATIONS:
            raise ScorerError(f"unknown conversation {conversation!r}; fix: one of {', '.join(CONVERSATIONS)}")
        if t5_tokenizer not in T5_TOKENIZERS:
            raise ScorerError(f"unknown t5_tokenizer {t5_tokenizer!r}; fix: one of {', '.join(T5_TOKENIZERS)}")
        if truncation not in TRUNCATIONS:
            raise ScorerError(f"unknown truncation {truncation!r}; fix: one of {', '.join(TRUNCATIONS)}")
        self.t5_tokenizer = t5_tokenizer
        self.resize_embeddings = _flag(resize_embeddings)
        self.truncation = truncation
        self.model_id = str(model)
        base = os.path.basename(self.model_id.rstrip("/"))
        self.tokenizer_id = tokenizer or DEFAULT_TOKENIZERS.get(base)
        self.vision_tower_id = vision_tower
        self.device = device
        self.dtype_name = dtype or "auto"
        self.answer = answer
        self.conversation = conversation
        self.pad_square = _flag(pad_square)
        self._loaded = False

    def fingerprint(self) -> dict[str, Any]:
        dtype = str(_torch_dtype(self.dtype_name, self.device))
        loading = {"t5_tokenizer": self.t5_tokenizer, "resize_embeddings": self.resize_embeddings,
                   "dtype": dtype, "truncation": self.truncation}
        reference = {"t5_tokenizer": "slow", "resize_embeddings": True, "dtype": "torch.bfloat16", "truncation": "ids"}
        return {"kind": self.kind, "model": self.model_id, "local": local_fingerprint(self.model_id),
                "tokenizer": self.tokenizer_id, "vision_tower": self.vision_tower_id,
                "conversation": self.conversation, "pad_square": self.pad_square, "answer": self.answer,
                **loading, "matches_t2v_metrics_loading": loading == reference
                and self.conversation == "t5_chat" and self.pad_square, "version": 2}

    # -- loading --------------------------------------------------------------------------------
    def load(self) -> None:
        if self._loaded:
            return
        fix = (f"download {self.model_id} (and its tokenizer/vision tower) into the HF cache while online, or pass "
               "--metric_args KEY.model=/local/folder (plus KEY.tokenizer=, KEY.vision_tower=)")
        model_dir = hub_or_local(self.model_id, "CLIP-FlanT5 checkpoint", fix)
        cfg = json.loads((Path(model_dir) / "config.json").read_text())
        tok_id = self.tokenizer_id
        if tok_id is None:
            tok_files = ("tokenizer.json", "spiece.model", "tokenizer_config.json")
            if any((Path(model_dir) / f).is_file() for f in tok_files):
                tok_id = model_dir
            else:
                raise ScorerError(f"no tokenizer for {self.model_id}; "
                                  "fix: pass --metric_args KEY.tokenizer=google/flan-t5-xxl")
        tok_dir = hub_or_local(tok_id, "Flan-T5 tokenizer", fix, weights=False)
        vt_id = self.vision_tower_id or cfg.get("mm_vision_tower") or DEFAULT_VISION_TOWER
        vt_dir = hub_or_local(vt_id, "CLIP vision tower", fix)

        with quiet_transformers():
            self._load_models(model_dir, cfg, tok_dir, vt_dir)

    def _load_models(self, model_dir: str, cfg: dict, tok_dir: str, vt_dir: str) -> None:
        from transformers import (
            AutoTokenizer,
            CLIPImageProcessor,
            CLIPVisionModel,
            T5Config,
            T5ForConditionalGeneration,
        )

        dtype = _torch_dtype(self.dtype_name, self.device)
        if self.t5_tokenizer == "slow":
            from facebench.metrics.vqascore.t5_tokenizer import SentencePieceT5Tokenizer

            self.tokenizer = SentencePieceT5Tokenizer(tok_dir)
        else:
            self.tokenizer = AutoTokenizer.from_pretrained(tok_dir, model_max_length=CONTEXT_LEN)
        drop = ("model_type", "architectures", "auto_map", "transformers_version")
        t5_keys = {k: v for k, v in cfg.items() if k not in drop}
        t5cfg = T5Config(**t5_keys)
        self.t5 = T5ForConditionalGeneration.from_pretrained(model_dir, config=t5cfg, dtype=dtype)
        self.n_embedding_rows = int(self.t5.get_input_embeddings().weight.shape[0])
        if self.resize_embeddings:  # load_pretrained_model: model.resize_token_embeddings(len(tokenizer))
            self.t5.resize_token_embeddings(len(self.tokenizer))
        self.t5.to(device=self.device, dtype=dtype).eval()
        self.vision = CLIPVisionModel.from_pretrained(vt_dir, dtype=dtype).to(device=self.device, dtype=dtype).eval()
        tower_state = read_tensors(model_dir, "vision_tower.vision_tower.")
        if tower_state:  # the checkpoint carries its own (fine-tuned or copied) tower: it wins, as in the reference
            self.vision.load_state_dict(tower_state, strict=True)
        self.image_processor = CLIPImageProcessor.from_pretrained(vt_dir)
        mm_hidden = int(cfg.get("mm_hidden_size") or self.vision.config.hidden_size)
        self.projector = build_projector(cfg.get("mm_projector_type", "linear"), mm_hidden, t5cfg.d_model)
        proj_state = read_tensors(model_dir, "mm_projector.") or read_tensors(model_dir, "model.mm_projector.")
        if not proj_state:
            raise ScorerError(f"{self.model_id} holds no mm_projector weights; fix: use a CLIP-FlanT5 checkpoint")
        self.projector.load_state_dict(proj_state, strict=True)
        self.projector.to(device=self.device, dtype=dtype).eval()
        self.select_layer = int(cfg.get("mm_vision_select_layer", -2))
        self.select_feature = cfg.get("mm_vision_select_feature", "patch")
        self.dtype = dtype
        self._loaded = True

    # -- pieces (exposed for tests) -------------------------------------------------------------
    def pixel_values(self, images: list):
        import torch

        ims = [im.convert("RGB") for im in images]
        if self.pad_square:
            bg = mean_colour(self.image_processor.image_mean)
            ims = [expand2square(im, bg) for im in ims]
        pv = self.image_processor(images=ims, return_tensors="pt")["pixel_values"]
        return pv.to(device=self.device, dtype=self.dtype) if isinstance(pv, torch.Tensor) else pv

    def image_features(self, pixel_values):
        out = self.vision(pixel_values, output_hidden_states=True)
        feats = out.hidden_states[self.select_layer]
        if self.select_feature == "patch":
            feats = feats[:, 1:]
        return self.projector(feats)

    def prompt_ids(self, question: str) -> tuple[list[int], list[int]]:
        """Token ids before and after the image (each chunk tokenised with its own ``</s>``)."""
        before, after = format_prompt(question, self.conversation).split(IMAGE_TOKEN)
        return self.tokenizer(before).input_ids, self.tokenizer(after).input_ids

    def input_ids(self, question: str) -> list[int]:
        """The encoder ids with the image as one placeholder (``t5_tokenizer_image_token``), cut to
        2,048 ids first under ``truncation=ids`` (the reference order)."""
        before, after = self.prompt_ids(question)
        ids = [*before, IMAGE_PLACEHOLDER, *after]
        return ids[:CONTEXT_LEN] if self.truncation == "ids" else ids

    def label_ids(self) -> list[int]:
        return self.tokenizer(self.answer).input_ids

    def forward_logits(self, images: list, questions: list[str]):
        """Decoder logits over the answer positions (B, L_ans, V) and the label ids (L_ans,)."""
        import contextlib

        import torch

        self.load()
        on_cuda = str(self.device).startswith("cuda")
        autocast = torch.autocast("cuda", dtype=self.dtype) if on_cuda and self.dtype != torch.float32 \
            else contextlib.nullcontext()  # the reference's @torch.autocast(device_type='cuda', dtype=bfloat16)
        with torch.no_grad(), autocast:
            img = self.image_features(self.pixel_values(images))
            embed = self.t5.get_input_embeddings()
            rows = []
            tensor = lambda x: torch.tensor(x, dtype=torch.long, device=self.device)  # noqa: E731
            for k, q in enumerate(questions):
                ids = self.input_ids(q)
                cut = ids.index(IMAGE_PLACEHOLDER)  # the system message + "USER:" before it is far below 2,048
                row = torch.cat([embed(tensor(ids[:cut])), img[k].to(embed.weight.dtype),
                                 embed(tensor(ids[cut + 1 :]))], dim=0)
                rows.append(row[:CONTEXT_LEN] if self.truncation == "embeds" else row)
            width = max(r.shape[0] for r in rows)
            d = rows[0].shape[1]
            inputs = torch.zeros(len(rows), width, d, dtype=rows[0].dtype, device=self.device)
            mask = torch.zeros(len(rows), width, dtype=torch.long, device=self.device)
            for k, r in enumerate(rows):
                inputs[k, : r.shape[0]] = r
                mask[k, : r.shape[0]] = 1
            labels = torch.tensor(self.label_ids(), dtype=torch.long, device=self.device)
            lab = labels.unsqueeze(0).repeat(len(rows), 1)
            out = self.t5(inputs_embeds=inputs, attention_mask=mask, labels=lab)
            return out.logits.float(), labels

    def score(self, images: list, questions: list[str]) -> list[float | None]:
        import torch

        logits, labels = self.forward_logits(images, questions)
        logp = torch.log_softmax(logits, dim=-1)
        tok_lp = logp.gather(-1, labels.view(1, -1, 1).expand(logits.shape[0], -1, 1)).squeeze(-1)
        return [float(v) for v in tok_lp.mean(dim=-1).exp().cpu()]
