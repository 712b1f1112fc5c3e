"""Randomly initialised networks of the real metric architectures, written to a folder in the
formats the real weights come in, so the metrics load them through their real loading code.

Nothing here touches the network (docs/reference.md §4).

  ``build_random_inception(dir)``   the FID-Inception (pytorch-fid architecture, random init) saved
                                    twice: as a TorchScript ``inception-2015-12-05.pt`` with NVIDIA's
                                    interface (``.layers`` + ``forward(x, return_features)``), and as
                                    the pytorch-fid state dict ``pt_inception-2015-12-05-6726825d.pth``
  ``build_tiny_open_clip(dir)``     an open_clip CLIP (tiny ViT + text transformer with the real
                                    49,408-token CLIP BPE) as ``local-dir:`` folder
  ``hf_clip_from_open_clip(dir, out)`` the same weights as a transformers ``CLIPModel`` + ``CLIPProcessor``
                                    (OpenAI-style config: ``eos_token_id=2``, argmax pooling), the form
                                    torchmetrics' CLIPScore loads
  ``build_tiny_clip_flant5(dir)``   CLIP-FlanT5 checkpoint layout: T5 weights + ``mm_projector.*`` in
                                    one folder (config ``model_type: clip_t5``; 28 more embedding rows
                                    than the tokenizer has tokens, as Flan-T5's 32,128 vs 32,100), a
                                    tiny CLIP vision tower + CLIPImageProcessor in another, and a
                                    T5-style Unigram tokenizer written by hand, both as a fast
                                    ``tokenizer.json`` and as a sentencepiece ``spiece.model``
  ``build_tiny_llava(dir)``         re-exported from ``tests/tiny_models.py`` (llava-hf layout)
  ``build_tiny_llava_hf_port(dir)`` llava-hf layout shaped like the HF port of LLaVA-1.5: the tokenizer
                                    adds ``<s>`` (BOS) itself, ``<image>``/``<pad>`` are *added* tokens
                                    beyond the base vocabulary, and the language model has more output
                                    rows than tokens (llava-hf: 32,064 rows for 32,000 + 2 tokens)
"""
from __future__ import annotations

import json
from pathlib import Path

# --------------------------------------------------------------------------------------- Inception


def build_random_inception(folder: str | Path, seed: int = 0) -> dict[str, Path]:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    from facebench.metrics.features.inception import build_pytorch_fid_inception, pool_features_module

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    net = build_pytorch_fid_inception()
    # torchvision skips init (init_weights=False): give every conv/bn a random but sane init so
    # activations neither vanish nor explode through 90 layers.
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.normal_(m.bias, 0.0, 0.1)
            m.running_mean.normal_(0.0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)
    net.eval()
    pt_path = folder / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(net.state_dict(), pt_path)

    class TFInceptionLike(nn.Module):
        """NVIDIA's TorchScript interface: ``layers`` maps (x-128)/128 at 299 px to pool features;
        ``forward(img, return_features=True)`` resizes uint8-range input itself."""

        def __init__(self, layers: nn.Module):
            super().__init__()
            self.layers = layers

        def forward(self, img: torch.Tensor, return_features: bool = False) -> torch.Tensor:
            x = F.interpolate(img.to(torch.float32), size=(299, 299), mode="bilinear", align_corners=False)
            x = (x - 128.0) / 128.0
            feats = self.layers(x).reshape(x.shape[0], 2048)
            return feats

    ts = torch.jit.script(TFInceptionLike(pool_features_module(net)).eval())
    ts_path = folder / "inception-2015-12-05.pt"
    ts.save(str(ts_path))
    return {"torchscript": ts_path, "pytorch": pt_path}


# ------------------------------------------------------------------------------------------ open_clip

TINY_OPEN_CLIP_CFG = {
    "embed_dim": 32,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


def build_tiny_open_clip(folder: str | Path, seed: int = 0) -> Path:
    """open_clip ``local-dir:`` layout: ``open_clip_config.json`` + ``open_clip_model.safetensors``."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = {"model_cfg": TINY_OPEN_CLIP_CFG,
           "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711],
                              "interpolation": "bicubic", "resize_mode": "shortest"}}
    (folder / "open_clip_config.json").write_text(json.dumps(cfg))
    torch.manual_seed(seed)
    model = open_clip.CLIP(**TINY_OPEN_CLIP_CFG)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    return folder


def hf_clip_from_open_clip(folder: str | Path, out: str | Path):
    """Port the tiny open_clip model in ``folder`` to transformers' ``CLIPModel`` (weights mapped
    one to one: q/k/v split out of ``in_proj``, projections transposed) plus a ``CLIPProcessor``
    with the real CLIP BPE and CLIP's mean/std. The text config keeps OpenAI's legacy
    ``eos_token_id=2``, under which transformers pools at the largest token id, as OpenAI/open_clip
    do. Returns (model, processor)."""
    import open_clip
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    from tiny_models import write_clip_tokenizer

    class TensorFeaturesCLIP(CLIPModel):
        """transformers 5 returns ``BaseModelOutputWithPooling`` from ``get_*_features`` where
        torchmetrics 1.9 expects the projected tensor (it calls ``.norm`` on it): hand it that."""

        def get_text_features(self, *a, **k):
            out = super().get_text_features(*a, **k)
            return out if torch.is_tensor(out) else out.pooler_output

        def get_image_features(self, *a, **k):
            out = super().get_image_features(*a, **k)
            return out if torch.is_tensor(out) else out.pooler_output

    oc, _, _ = open_clip.create_model_and_transforms(f"local-dir:{folder}")
    sd = oc.state_dict()
    c = TINY_OPEN_CLIP_CFG
    vis, txt = c["vision_cfg"], c["text_cfg"]
    cfg = CLIPConfig(
        text_config=dict(vocab_size=txt["vocab_size"], hidden_size=txt["width"], intermediate_size=4 * txt["width"],
                         num_hidden_layers=txt["layers"], num_attention_heads=txt["heads"],
                         max_position_embeddings=txt["context_length"], hidden_act="quick_gelu", eos_token_id=2,
                         bos_token_id=49406, pad_token_id=1, projection_dim=c["embed_dim"]),
        vision_config=dict(hidden_size=vis["width"], intermediate_size=4 * vis["width"],
                           num_hidden_layers=vis["layers"], num_attention_heads=vis["width"] // vis["head_width"],
                           image_size=vis["image_size"], patch_size=vis["patch_size"], hidden_act="quick_gelu",
                           projection_dim=c["embed_dim"]),
        projection_dim=c["embed_dim"])
    hf = TensorFeaturesCLIP(cfg).eval()
    new: dict = {}

    def blocks(src: str, dst: str, n: int) -> None:
        for i in range(n):
            a, b = f"{src}.resblocks.{i}", f"{dst}.layers.{i}"
            for name, (w, bias) in zip("qkv", zip(sd[f"{a}.attn.in_proj_weight"].chunk(3),
                                                  sd[f"{a}.attn.in_proj_bias"].chunk(3))):
                new[f"{b}.self_attn.{name}_proj.weight"], new[f"{b}.self_attn.{name}_proj.bias"] = w, bias
            pairs = {"attn.out_proj": "self_attn.out_proj", "ln_1": "layer_norm1", "ln_2": "layer_norm2",
                     "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2"}
            for o, h in pairs.items():
                new[f"{b}.{h}.weight"], new[f"{b}.{h}.bias"] = sd[f"{a}.{o}.weight"], sd[f"{a}.{o}.bias"]

    new["text_model.embeddings.token_embedding.weight"] = sd["token_embedding.weight"]
    new["text_model.embeddings.position_embedding.weight"] = sd["positional_embedding"]
    blocks("transformer", "text_model.encoder", txt["layers"])
    new["text_model.final_layer_norm.weight"], new["text_model.final_layer_norm.bias"] = sd["ln_final.weight"], sd["ln_final.bias"]
    new["text_projection.weight"] = sd["text_projection"].T
    new["vision_model.embeddings.class_embedding"] = sd["visual.class_embedding"]
    new["vision_model.embeddings.patch_embedding.weight"] = sd["visual.conv1.weight"]
    new["vision_model.embeddings.position_embedding.weight"] = sd["visual.positional_embedding"]
    new["vision_model.pre_layrnorm.weight"], new["vision_model.pre_layrnorm.bias"] = sd["visual.ln_pre.weight"], sd["visual.ln_pre.bias"]
    blocks("visual.transformer", "vision_model.encoder", vis["layers"])
    new["vision_model.post_layernorm.weight"], new["vision_model.post_layernorm.bias"] = sd["visual.ln_post.weight"], sd["visual.ln_post.bias"]
    new["visual_projection.weight"] = sd["visual.proj"].T
    new["logit_scale"] = sd["logit_scale"]
    missing, unexpected = hf.load_state_dict({k: v.clone() for k, v in new.items()}, strict=False)
    assert not unexpected and all("position_ids" in k for k in missing), (missing, unexpected)
    out = Path(out)
    tok_dir = write_clip_tokenizer(out / "tokenizer")
    tokenizer = CLIPTokenizer(str(tok_dir / "vocab.json"), str(tok_dir / "merges.txt"), model_max_length=77)
    image_processor = CLIPImageProcessor(size={"shortest_edge": vis["image_size"]},
                                         crop_size={"height": vis["image_size"], "width": vis["image_size"]},
                                         image_mean=[0.48145466, 0.4578275, 0.40821073],
                                         image_std=[0.26862954, 0.26130258, 0.27577711])
    return hf, CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)


# -------------------------------------------------------------------------------------- CLIP-FlanT5

T5_WORDS = (
    "a chat between curious user and an artificial intelligence assistant the gives helpful detailed polite "
    "answers to user's questions USER ASSISTANT Does Please does this figure show please answer yes or no Yes No "
    "photo of young woman man with long short blond brown black hair blue eyes smiling beard glasses"
).split()


def _t5_vocab() -> list[tuple[str, float]]:
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -3.0)]
    seen = {v for v, _ in vocab}
    for w in T5_WORDS:
        piece = "▁" + w
        if piece not in seen:
            vocab.append((piece, -5.0))
            seen.add(piece)
    for c in (chr(i) for i in range(33, 127)):
        for piece in (c, "▁" + c):
            if piece not in seen:
                vocab.append((piece, -10.0))
                seen.add(piece)
    return vocab


def write_t5_tokenizer(folder: str | Path) -> Path:
    """A T5-style Unigram tokenizer (``<pad>``=0, ``</s>``=1, ``<unk>``=2, ``▁word`` pieces + ASCII
    characters) written by hand, with T5's normaliser/pre-tokeniser and ``$A </s>`` post-processing,
    so ``"Yes"`` → ``▁Yes </s>`` as in Flan-T5. Deterministic (no trainer). The same pieces are also
    written as a sentencepiece ``spiece.model`` (``write_t5_spiece_model``), the slow tokenizer's file."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import T5TokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = _t5_vocab()
    tok = Tokenizer(models.Unigram(vocab, unk_id=2, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.Replace(" {2,}", " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", 1)])
    fast = T5TokenizerFast(tokenizer_object=tok, eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
                           extra_ids=0, model_max_length=2048)
    fast.save_pretrained(folder)
    write_t5_spiece_model(folder / "spiece.model", vocab)
    return folder


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int32 → 10-byte two's complement, as protobuf writes it
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num: int, wire: int, payload: bytes) -> bytes:
    return _varint((num << 3) | wire) + payload


def _msg(num: int, body: bytes) -> bytes:
    return _field(num, 2, _varint(len(body)) + body)


def write_t5_spiece_model(path: str | Path, vocab: list[tuple[str, float]]) -> Path:
    """A sentencepiece Unigram ``ModelProto`` serialised by hand (protobuf wire format: pieces,
    trainer spec with T5's ids pad=0 / eos=1 / unk=2 / no bos, normaliser spec with sentencepiece's
    whitespace handling and no character map), so ``sentencepiece`` loads it like Flan-T5's
    ``spiece.model``. No protobuf package and no trainer: deterministic."""
    import struct

    kinds = {"<pad>": 3, "</s>": 3, "<unk>": 2}  # CONTROL, CONTROL, UNKNOWN; everything else NORMAL (1)
    body = b""
    for piece, score in vocab:
        p = piece.encode("utf-8")
        entry = _field(1, 2, _varint(len(p)) + p) + _field(2, 5, struct.pack("<f", score))
        entry += _field(3, 0, _varint(kinds.get(piece, 1)))
        body += _msg(1, entry)
    trainer = (_field(3, 0, _varint(1)) + _field(4, 0, _varint(len(vocab))) + _field(40, 0, _varint(2))
               + _field(41, 0, _varint(-1)) + _field(42, 0, _varint(1)) + _field(43, 0, _varint(0)))
    body += _msg(2, trainer)
    name = b"identity"
    normalizer = (_field(1, 2, _varint(len(name)) + name) + _field(3, 0, _varint(1)) + _field(4, 0, _varint(1))
                  + _field(5, 0, _varint(1)))
    body += _msg(3, normalizer)
    path = Path(path)
    path.write_bytes(body)
    return path


def build_tiny_clip_flant5(folder: str | Path, seed: int = 0, fmt: str = "safetensors",
                           vocab_pad: int = 28) -> dict[str, Path]:
    """Folders ``model/`` (CLIP-FlanT5 checkpoint), ``vision/`` (CLIP vision tower + processor) and
    ``tokenizer/``; ``model/config.json`` points ``mm_vision_tower`` at ``vision/``. The T5 has
    ``vocab_pad`` embedding rows beyond the tokenizer's length (the rows t2v_metrics' resize drops).
    ``fmt="bin_sharded"`` writes the LLaVA-era layout instead: ``pytorch_model-0000k-of-00002.bin``
    shards + ``pytorch_model.bin.index.json``, with the projector in the last shard."""
    import torch
    from safetensors.torch import save_file
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel, T5Config, T5ForConditionalGeneration

    folder = Path(folder)
    tok_dir = write_t5_tokenizer(folder / "tokenizer")
    from transformers import AutoTokenizer

    vocab_size = len(AutoTokenizer.from_pretrained(tok_dir))
    torch.manual_seed(seed)
    vision_dir = folder / "vision"
    vcfg = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
                            image_size=28, patch_size=14, projection_dim=32)
    CLIPVisionModel(vcfg).save_pretrained(vision_dir)
    CLIPImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28}).save_pretrained(vision_dir)

    t5cfg = T5Config(vocab_size=vocab_size + vocab_pad, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2,
                     num_heads=4, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                     decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
                     initializer_factor=0.3)  # moderate logits: P(Yes) ~ 1e-3, not 1e-9 (bfloat16 stays meaningful)
    t5 = T5ForConditionalGeneration(t5cfg).eval()
    proj = torch.nn.Sequential(torch.nn.Linear(32, 32), torch.nn.GELU(), torch.nn.Linear(32, 32))
    model_dir = folder / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous().clone() for k, v in t5.state_dict().items()}
    state.update({f"mm_projector.{k}": v.contiguous() for k, v in proj.state_dict().items()})
    if fmt == "safetensors":
        save_file(state, str(model_dir / "model.safetensors"), metadata={"format": "pt"})
    else:
        names = sorted(state)
        first = [k for k in names if not k.startswith("mm_projector.")][: len(names) // 2]
        shards = {"pytorch_model-00001-of-00002.bin": {k: state[k] for k in first},
                  "pytorch_model-00002-of-00002.bin": {k: state[k] for k in names if k not in first}}
        weight_map = {}
        for fname, part in shards.items():
            torch.save(part, model_dir / fname)
            weight_map.update({k: fname for k in part})
        (model_dir / "pytorch_model.bin.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    cfg = t5cfg.to_dict()
    cfg.update(model_type="clip_t5", architectures=["CLIPT5ForConditionalGeneration"], mm_vision_tower=str(vision_dir),
               mm_hidden_size=32, mm_projector_type="mlp2x_gelu", mm_vision_select_layer=-2,
               mm_vision_select_feature="patch", use_mm_proj=True)
    (model_dir / "config.json").write_text(json.dumps(cfg, indent=1))
    return {"model": model_dir, "vision": vision_dir, "tokenizer": tok_dir}


def build_tiny_llava(folder: str | Path, seed: int = 0) -> Path:
    from tiny_models import build_tiny_llava as _build  # tests/ is on sys.path under pytest

    return _build(folder, seed=seed)


def build_tiny_llava_hf_port(folder: str | Path, seed: int = 0, row_multiple: int = 64) -> Path:
    """See the module doc. The extra output rows are random like the rest of the model, so a softmax
    over all rows differs from one over the base vocabulary (what the original LLaVA-1.5 has)."""
    import torch
    from tokenizers import processors
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    from tiny_models import LLAVA_CHAT_TEMPLATE, _bpe_tokenizer, _fast_tokenizer

    folder = Path(folder)
    base = _bpe_tokenizer(["<s>", "</s>", "<unk>"])
    base.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
    tok = _fast_tokenizer(base, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    tok.add_special_tokens({"pad_token": "<pad>"})
    tok.add_tokens(["<image>"], special_tokens=True)
    tok.image_token = "<image>"
    n_rows = -(-len(tok) // row_multiple) * row_multiple + row_multiple
    image_id = tok.convert_tokens_to_ids("<image>")
    text = LlamaConfig(vocab_size=n_rows, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=4096,
                       initializer_range=0.2, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                       pad_token_id=tok.pad_token_id)
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                              image_size=32, patch_size=8, projection_dim=32)
    cfg = LlavaConfig(vision_config=vision.to_dict(), text_config=text.to_dict(), image_token_id=image_id,
                      vision_feature_layer=-2, vision_feature_select_strategy="default")
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(cfg).eval()
    model.generation_config.pad_token_id = tok.pad_token_id
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    proc = LlavaProcessor(image_processor=image_processor, tokenizer=tok, patch_size=8,
                          vision_feature_select_strategy="default", chat_template=LLAVA_CHAT_TEMPLATE,
                          num_additional_image_tokens=1)
    model.save_pretrained(folder)
    proc.save_pretrained(folder)
    return folder
