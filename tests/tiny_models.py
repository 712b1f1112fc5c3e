"""Tiny randomly initialised models of the real architectures, saved to a folder, for tests.

Nothing here touches the network: tokenizers are trained in memory (byte-level BPE, deterministic
across processes) or rebuilt from the CLIP vocabulary that open_clip ships. Each builder writes a
folder that the adapters then load through their real ``from_pretrained`` path, exactly as a hub
checkpoint would be loaded (docs/reference.md §4).

Builders (each returns the folder it wrote):
  ``build_tiny_janus(path)``      transformers Janus (understanding + VQ image generation)
  ``build_tiny_llava(path)``      LLaVA-1.5 layout (CLIP vision tower + Llama), ``llava-hf`` chat template
  ``build_tiny_qwen2_vl(path)``   Qwen2-VL (dynamic resolution, M-RoPE), Qwen chat template
  ``build_tiny_sd(path)``         diffusers StableDiffusionPipeline (UNet, VAE, CLIP text encoder)
  ``write_tiny_sentencepiece(path)`` a LLaMA-style SentencePiece ``tokenizer.model`` (for slow tokenizers)
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

# Weights use initializer_range=0.2 (not 0.02) so a random model's outputs depend visibly on its
# inputs (with 0.02 every prompt gives nearly the same near-uniform distribution).
# Sentences the BPE merges are learnt from; any other text still tokenizes (byte-level alphabet).
CORPUS = [
    "a photo of a young woman with long blond hair and blue eyes, smiling.",
    "A close-up portrait of a middle-aged man with a short beard, wearing glasses, neutral expression.",
    "Is the person smiling? Yes. No. Does she wear earrings? What color is the hair?",
    "Describe this person's face in detail, including hair, eyes, facial hair, accessories, makeup, "
    "expression and emotion.",
    "The woman has wavy brown hair, arched eyebrows, heavy makeup and looks happy.",
]


def _bpe_tokenizer(specials: list[str], vocab_size: int = 400):
    """A byte-level BPE ``tokenizers.Tokenizer`` trained on CORPUS, special tokens first (ids 0..)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 4, trainer)
    return tok


def _fast_tokenizer(tok, model_class: str | None = None, **kwargs):
    """Wrap a ``tokenizers.Tokenizer`` for transformers. ``model_class`` names the tokenizer class the
    model's processor insists on in transformers 4.x (Janus: ``LlamaTokenizerFast``, Qwen2-VL:
    ``Qwen2TokenizerFast``; ``ProcessorMixin`` type-checks it); 5.x processors accept the generic
    fast tokenizer and reload a byte-level ``LlamaTokenizer`` as the generic backend anyway, so there
    the generic class is kept. The Llama class gets no automatic bos/eos, so both give the same ids."""
    import transformers

    cls = transformers.PreTrainedTokenizerFast
    if model_class and int(transformers.__version__.split(".")[0]) < 5:
        cls = getattr(transformers, model_class)
        if model_class == "LlamaTokenizerFast":
            kwargs = dict(add_bos_token=False, add_eos_token=False, legacy=False, **kwargs)
    return cls(tokenizer_object=tok, model_input_names=["input_ids", "attention_mask"], padding_side="left", **kwargs)


# ----------------------------------------------------------------------------------------------- Janus
JANUS_SPECIALS = [
    "<|begin▁of▁sentence|>",
    "<|end▁of▁sentence|>",
    "<|▁pad▁|>",
    "<image_placeholder>",
    "<begin_of_image>",
    "<end_of_image>",
]

# The shape of Janus-Pro's template ("<|User|>: ...\n\n<|Assistant|>:"), with bos first.
JANUS_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'user' %}<|User|>: {% elif message['role'] == 'assistant' %}<|Assistant|>: "
    "{% else %}{{ message['role'] | capitalize }}: {% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<image_placeholder>\n{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% else %}\n\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|Assistant|>:{% endif %}"
)


def build_tiny_janus(path: str | Path, seed: int = 0) -> Path:
    """Janus with a 2-layer Llama (hidden 32), a 32 px / patch 8 vision encoder (16 image tokens)
    and a 2-level VQ decoder: generated images are 8 px (4×4 tokens × 2 upsampling)."""
    import torch
    from transformers import (
        JanusConfig,
        JanusForConditionalGeneration,
        JanusImageProcessor,
        JanusProcessor,
        LlamaConfig,
    )

    path = Path(path)
    tok = _fast_tokenizer(
        _bpe_tokenizer(JANUS_SPECIALS),
        "LlamaTokenizerFast",
        bos_token=JANUS_SPECIALS[0],
        eos_token=JANUS_SPECIALS[1],
        pad_token=JANUS_SPECIALS[2],
        extra_special_tokens={"image_token": JANUS_SPECIALS[3], "boi_token": JANUS_SPECIALS[4],
                              "eoi_token": JANUS_SPECIALS[5]},
    )
    text = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, initializer_range=0.2,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )
    vision = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, image_size=32, patch_size=8,
                  projection_dim=32, mlp_ratio=2.0, num_image_tokens=16, depth=2)
    vq = dict(embed_dim=8, num_embeddings=64, latent_channels=32, base_channels=32, channel_multiplier=[1, 2],
              num_res_blocks=1, projection_dim=32, image_token_embed_dim=32, num_hidden_layers=1)
    # initializer_range at the top level too: 4.x initialises the generation head from it (0.02 by
    # default, which makes a random model's image-token distribution uniform, so prompts and guidance
    # stop mattering); 5.x takes the text config's
    cfg = JanusConfig(text_config=text.to_dict(), vision_config=vision, vq_config=vq,
                      image_token_id=tok.convert_tokens_to_ids(JANUS_SPECIALS[3]), initializer_range=0.2)
    torch.manual_seed(seed)
    model = JanusForConditionalGeneration(cfg).eval()
    model.generation_config.pad_token_id = tok.pad_token_id
    proc = JanusProcessor(
        image_processor=JanusImageProcessor(size={"height": 32, "width": 32}, min_size=8),
        tokenizer=tok, chat_template=JANUS_CHAT_TEMPLATE, num_image_tokens=16,
    )
    model.save_pretrained(path)
    proc.save_pretrained(path)
    return path


# ----------------------------------------------------------------------------------------------- LLaVA
LLAVA_CHAT_TEMPLATE = (  # llava-hf/llava-1.5-*: "USER: <image>\n{text} ASSISTANT:"
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': ' }}{% endif %}"
    "{% if message['content'] is string %}{{ message['content'] + ' ' }}{% else %}"
    "{% for c in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{% for c in message['content'] | selectattr('type', 'equalto', 'text') %}{{ c['text'] + ' ' }}{% endfor %}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


def build_tiny_llava(path: str | Path, seed: int = 0) -> Path:
    """LLaVA-1.5 layout: CLIP vision tower (32 px, patch 8 → 16 image tokens with the 'default'
    feature selection), 2-layer MLP projector, 2-layer Llama; processor = CLIPImageProcessor +
    byte-level BPE with ``<image>`` and the llava-hf chat template."""
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    path = Path(path)
    specials = ["<s>", "</s>", "<unk>", "<pad>", "<image>"]
    tok = _fast_tokenizer(_bpe_tokenizer(specials), bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                          pad_token="<pad>", extra_special_tokens={"image_token": "<image>"})
    text = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
                       initializer_range=0.2, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                       pad_token_id=tok.pad_token_id)
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                              image_size=32, patch_size=8, projection_dim=32)
    cfg = LlavaConfig(vision_config=vision.to_dict(), text_config=text.to_dict(),
                      image_token_id=tok.convert_tokens_to_ids("<image>"), vision_feature_layer=-2,
                      vision_feature_select_strategy="default")
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(cfg).eval()
    model.generation_config.pad_token_id = tok.pad_token_id
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    proc = LlavaProcessor(image_processor=image_processor, tokenizer=tok, patch_size=8,
                          vision_feature_select_strategy="default", chat_template=LLAVA_CHAT_TEMPLATE,
                          num_additional_image_tokens=1)
    model.save_pretrained(path)
    proc.save_pretrained(path)
    return path


# -------------------------------------------------------------------------------------------- Qwen2-VL
QWEN_CHAT_TEMPLATE = (  # Qwen2-VL-Instruct's template, shortened (no video, no tools)
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for c in message['content'] %}{% if c['type'] == 'image' %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _mrope_config(section: list[int], theta: float) -> dict:
    """Qwen2-VL's multimodal RoPE: 5.x reads ``rope_parameters``, 4.x ``rope_scaling`` + ``rope_theta``."""
    import transformers

    if int(transformers.__version__.split(".")[0]) >= 5:
        return {"rope_parameters": {"rope_type": "default", "mrope_section": section, "rope_theta": theta}}
    return {"rope_scaling": {"type": "mrope", "mrope_section": section}, "rope_theta": theta}


def build_tiny_qwen2_vl(path: str | Path, seed: int = 0) -> Path:
    """Qwen2-VL with patch 4, merge 2 and a 16²–64² pixel budget (images become 2×2–4×4 merged tokens)."""
    import torch
    from transformers import (
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    path = Path(path)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|image_pad|>", "<|video_pad|>"]
    tok = _fast_tokenizer(_bpe_tokenizer(specials), "Qwen2TokenizerFast", eos_token="<|im_end|>",
                          pad_token="<|endoftext|>",
                          extra_special_tokens={"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
                                                "vision_start_token": "<|vision_start|>",
                                                "vision_end_token": "<|vision_end|>"})
    ids = {t: tok.convert_tokens_to_ids(t) for t in specials}
    text = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, initializer_range=0.2,
                **_mrope_config([1, 1, 2], 10000.0),
                bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"])
    vision = dict(depth=2, embed_dim=32, hidden_size=32, mlp_ratio=2, num_heads=4, patch_size=4,
                  spatial_merge_size=2, temporal_patch_size=2)
    cfg = Qwen2VLConfig(text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
                        video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                        vision_end_token_id=ids["<|vision_end|>"])
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(cfg).eval()
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    ip = Qwen2VLImageProcessor(patch_size=4, merge_size=2, temporal_patch_size=2,
                               min_pixels=16 * 16, max_pixels=64 * 64)
    vp = Qwen2VLVideoProcessor(patch_size=4, merge_size=2, temporal_patch_size=2,
                               size={"shortest_edge": 16 * 16, "longest_edge": 64 * 64})
    proc = Qwen2VLProcessor(image_processor=ip, tokenizer=tok, video_processor=vp, chat_template=QWEN_CHAT_TEMPLATE)
    model.save_pretrained(path)
    proc.save_pretrained(path)
    return path


# ------------------------------------------------------------------------------------ Stable Diffusion
def write_clip_tokenizer(path: str | Path) -> Path:
    """The real 49,408-token CLIP BPE (as in openai/clip-vit-*), rebuilt from the vocabulary file that
    open_clip ships, saved as ``vocab.json`` + ``merges.txt`` for ``CLIPTokenizer``."""
    import gzip
    import importlib.util
    import json

    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("open_clip is needed to rebuild the CLIP tokenizer offline (pip install open-clip-torch)")
    bpe = Path(list(spec.submodule_search_locations)[0]) / "bpe_simple_vocab_16e6.txt.gz"
    merges = gzip.open(bpe).read().decode("utf-8").split("\n")[1 : 49152 - 256 - 2 + 1]
    merges = [tuple(m.split()) for m in merges]
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    byte_chars = [chr(c) for c in cs]
    vocab = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}, ensure_ascii=False))
    (path / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    return path


def build_tiny_sd(path: str | Path, seed: int = 0) -> Path:
    """StableDiffusionPipeline with a 2-block UNet (32 ch), a 2-block VAE (×2 downsampling) and a
    2-layer CLIP text encoder with the real CLIP tokenizer; DDIM scheduler; no safety checker."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    path = Path(path)
    tok_dir = write_clip_tokenizer(path / "_clip_tokenizer_src")
    tokenizer = CLIPTokenizer(str(tok_dir / "vocab.json"), str(tok_dir / "merges.txt"), model_max_length=77)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8, norm_num_groups=32,
    )
    vae = AutoencoderKL(
        block_out_channels=(32, 64), in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), norm_num_groups=32, sample_size=64,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=1,
    ))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(path)
    import shutil

    shutil.rmtree(tok_dir, ignore_errors=True)
    return path


# ------------------------------------------------------------------------------------------ tokenizer
def build_tiny_tokenizer(path: str | Path) -> Path:
    """A byte-level BPE tokenizer (bos/eos/pad/unk) saved with ``save_pretrained``, loadable with
    ``AutoTokenizer.from_pretrained(path)`` — for stand-in research code that loads a tokenizer."""
    path = Path(path)
    specials = ["<s>", "</s>", "<unk>", "<pad>"]
    tok = _fast_tokenizer(_bpe_tokenizer(specials), bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                          pad_token="<pad>")
    tok.save_pretrained(path)
    return path


def write_tiny_sentencepiece(path: str | Path, vocab_size: int = 400) -> Path:
    """A LLaMA-style SentencePiece BPE model (``<unk>``=0, ``<s>``=1, ``</s>``=2, byte fallback, so any
    text encodes) trained in memory on CORPUS and written to ``path`` (a ``tokenizer.model`` file):
    research code that loads ``LlamaTokenizer(use_fast=False)`` needs one. One training thread makes
    it byte-identical across runs. Needs the ``sentencepiece`` package."""
    import io

    import sentencepiece as spm

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS * 4), model_writer=buf, vocab_size=vocab_size, model_type="bpe",
        byte_fallback=True, character_coverage=1.0, num_threads=1, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        minloglevel=2,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path


@contextmanager
def torch_threads(n: int = 1):
    """Run tiny models on ``n`` intra-op threads (restored after): for tensors this small, thread
    hand-offs cost more than the maths, and on a busy 2-core machine they cost 10-40× more."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)
