"""The VILA1.5, VILA-U and TokenFlow plugins against their REAL upstream code, with tiny random
weights built here from upstream's own architecture classes, saved to a temp folder and loaded
through the plugin's real loading path, on CPU.

These run only when ``FACEBENCH_UPSTREAM_DIR`` names a folder of upstream checkouts at the commits
the plugins pin (``VILA``, ``vila-u``, ``TokenFlow``) and the python running pytest has the family's
pinned packages (the plugin's ``environment.requirements``); otherwise each test is skipped with the
reason. Each family needs its own environment (VILA: transformers 4.36.2, TokenFlow t2i 4.43.4 …),
so run this file once per environment, e.g.::

    FACEBENCH_UPSTREAM_DIR=/work/upstream /path/to/vila-env/bin/python -m pytest tests/test_upstream_und.py

Each test compares the plugin's output with the same computation done by calling upstream's API the
way its own inference/eval script does (cited per test), so a plugin that drifts from upstream's
settings fails here.
"""
from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from facebench.types import ChatRequest

UPSTREAM_ENV = "FACEBENCH_UPSTREAM_DIR"
REPO = Path(__file__).resolve().parent.parent


def _checkout(name: str) -> Path:
    root = os.environ.get(UPSTREAM_ENV)
    if not root:
        pytest.skip(f"{UPSTREAM_ENV} is not set (a folder holding upstream checkouts named VILA, vila-u, TokenFlow)")
    path = Path(root) / name
    if not path.is_dir():
        pytest.skip(f"no upstream checkout at {path}")
    return path


def _needs_environment(cls) -> None:
    """Skip unless every ``name==version`` pin of the plugin's EnvSpec is what this python has."""
    from importlib.metadata import PackageNotFoundError, version

    for req in cls.environment.requirements:
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", req.strip())
        name = m.group(1) if m else re.split(r"[\s@=<>!~\[]", req.strip(), maxsplit=1)[0]
        try:
            have = version(name)
        except PackageNotFoundError:
            pytest.skip(f"{cls.name}: '{name}' is not installed; run under the family's environment ({req})")
        if m and have != m.group(2):
            pytest.skip(f"{cls.name}: needs {req}, this python has {name}=={have}")


def _forget(prefixes: tuple[str, ...], path_entry: Path) -> None:
    for mod in [m for m in sys.modules if m.split(".")[0] in prefixes]:
        del sys.modules[mod]
    while str(path_entry) in sys.path:
        sys.path.remove(str(path_entry))


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    pytest.importorskip("torch")
    from tiny_models import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture()
def face(tmp_path) -> Path:
    from PIL import Image

    arr = np.random.default_rng(0).integers(0, 256, size=(40, 30, 3), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "face.png")
    return tmp_path / "face.png"


def _q(image, text="Is she smiling?", **params):
    return ChatRequest("d0", image, ({"role": "user", "content": text},), params)


# ---------------------------------------------------------------------------------------- VILA1.5
def build_tiny_vila15(code: Path, out: Path) -> Path:
    """A VILA1.5-layout checkpoint (``llm/``, ``vision_tower/``, ``mm_projector/`` + top config, as
    ``Efficient-Large-Model/VILA1.5-3b``) written by upstream's own ``LlavaLlamaModel.save_pretrained``
    (VILA ``llava/model/llava_arch.py:138-183``) from a 2-layer Llama with a SentencePiece
    ``LlamaTokenizer``, VILA's SigLIP tower (40 px, patch 8: an odd 5×5 grid like the real 27×27, which
    the ``mlp_downsample`` projector pads, ``base_projector.py:43-54``) and a random projector."""
    import torch
    from tiny_models import write_tiny_sentencepiece
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaTokenizer

    from llava.model.language_model.llava_llama import LlavaLlamaConfig, LlavaLlamaModel
    from llava.model.multimodal_encoder.siglip import SiglipImageProcessor, SiglipVisionConfig, SiglipVisionModel

    src = out / "src"
    tok = LlamaTokenizer(vocab_file=str(write_tiny_sentencepiece(src / "tokenizer.model")), legacy=False)
    tok.save_pretrained(src / "llm")
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
                                 initializer_range=0.2, bos_token_id=1, eos_token_id=2)).save_pretrained(src / "llm")
    # the folder name must contain "siglip": VILA picks the tower class from it (multimodal_encoder/builder.py:44)
    SiglipVisionModel(SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                         num_attention_heads=2, image_size=40, patch_size=8)).save_pretrained(src / "siglip")
    SiglipImageProcessor(size={"height": 40, "width": 40}).save_pretrained(src / "siglip")
    cfg = LlavaLlamaConfig(llm_cfg=str(src / "llm"), vision_tower_cfg=str(src / "siglip"),
                           mm_projector_cfg="mlp_downsample", architectures=["LlavaLlamaModel"],
                           image_aspect_ratio="resize", mm_vision_select_layer=-2, mm_vision_select_feature="cls_patch")
    cfg.model_dtype = "torch.float32"
    LlavaLlamaModel(cfg).save_pretrained(str(out / "VILA1.5-tiny"))
    return out / "VILA1.5-tiny"


@pytest.fixture(scope="module")
def vila15(tmp_path_factory):
    from facebench_baselines._upstream_shims import flash_attn_placeholder
    from facebench_baselines.vila15 import Vila15Adapter

    code = _checkout("VILA")
    _needs_environment(Vila15Adapter)
    flash_attn_placeholder()
    sys.path.insert(0, str(code))
    try:
        yield code, build_tiny_vila15(code, tmp_path_factory.mktemp("vila15"))
    finally:
        _forget(("llava",), code)


def test_vila15_loads_real_checkpoint_layout_and_answers_as_run_vila(vila15, face):
    """Load: VILA's ``load_pretrained_model(model_path, model_name, model_base=None, ...)`` — the
    plugin once passed LLaVA's order, giving ``model_name=None``. Answer: equal to the same request
    made the way ``llava/eval/run_vila.py:99-134`` makes it (vicuna_v1 prompt, ``process_images``,
    float16 pixels as a list, separator stopping criterion, greedy as ``llavabench.sh:16``)."""
    import torch

    from facebench_baselines.vila15 import Vila15Adapter

    code, ckpt = vila15
    a = Vila15Adapter(pretrained=str(ckpt), code_path=str(code))
    got = a.answer([_q(face, max_new_tokens=12)])[0]
    info = a.info()
    assert info["dtype"] == "float16"  # VILA's builder loads in float16 (builder.py:65)
    assert info["settings"] == {"conv_mode": "vicuna_v1", "temperature": 0.0, "max_new_tokens": 1024}
    assert "SigLIP device_map='cuda' → {'': device}" in info["shims"]
    assert info["code"].startswith("git:6b941da19e31")

    chat = a._m_chat
    conv_lib = importlib.import_module("llava.conversation")
    mm = importlib.import_module("llava.mm_utils")
    const = importlib.import_module("llava.constants")
    from PIL import Image

    conv = conv_lib.conv_templates["vicuna_v1"].copy()
    conv.append_message(conv.roles[0], const.DEFAULT_IMAGE_TOKEN + "\nIs she smiling?")
    conv.append_message(conv.roles[1], None)
    image = Image.open(face).convert("RGB")
    pixels = mm.process_images([image], chat.image_processor, chat.model.config).to("cpu", dtype=torch.float16)
    ids = mm.tokenizer_image_token(conv.get_prompt(), chat.tokenizer, const.IMAGE_TOKEN_INDEX,
                                   return_tensors="pt").unsqueeze(0)
    stop = conv.sep2
    with torch.inference_mode():
        out = chat.model.generate(ids, images=[pixels], do_sample=False, temperature=0.0, top_p=None, num_beams=1,
                                  max_new_tokens=12, use_cache=True,
                                  stopping_criteria=[mm.KeywordsStoppingCriteria([stop], chat.tokenizer, ids)])
    want = chat.tokenizer.batch_decode(out, skip_special_tokens=True)[0].strip()
    want = (want[: -len(stop)] if want.endswith(stop) else want).strip()
    assert got == want and got  # a random model still says something
    assert a.answer([_q(face, max_new_tokens=12)])[0] == got  # greedy: the same again
    a.close()


# ------------------------------------------------------------------------------------------ VILA-U
def build_tiny_vila_u(out: Path) -> Path:
    """A VILA-U checkpoint (``llm/``, ``vision_tower/``, ``mm_projector/`` + top config) written by
    upstream's ``VILAULlamaModel.save_pretrained`` (``vila_u/model/vila_u_arch.py:103-146``): a 2-layer
    Llama whose tokenizer already holds the image/video start/end tokens (as a trained checkpoint's
    does, so loading adds none), and the 256² tower — upstream derives image size and token count from
    ``hidden_size == 1024`` (``rqvaesigliptransformer_encoder.py:22-29``), so the SigLIP width stays
    1024 with 2 layers and a 64-wide MLP; RQ-VAE with a 1024-code shared codebook (≥ the sampler's
    top-k of 900), depth 4; RQ-Transformer of one 32-wide layer; a 32-channel 5-level decoder. The
    LLM's generation config is LLaMA-2's (sampling, temperature 0.6, top-p 0.9): upstream's image loop
    only runs in ``sample`` (``vila_u/train/transformers_replace/generation/utils.py:1755-1783``)."""
    import torch
    from tiny_models import write_tiny_sentencepiece
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, LlamaTokenizer

    from vila_u.constants import (
        DEFAULT_IM_END_TOKEN,
        DEFAULT_IM_START_TOKEN,
        DEFAULT_VI_END_TOKEN,
        DEFAULT_VI_START_TOKEN,
    )
    from vila_u.model import VILAULlamaConfig, VILAULlamaModel
    from vila_u.model.multimodal_encoder.rqvaesigliptransformer import (
        RQVAESIGLIPTransformer,
        RQVAESIGLIPTransformerConfig,
    )
    from vila_u.model.multimodal_encoder.rqvaesigliptransformer.rqvaesiglip.siglip.configuration_siglip import (
        SiglipConfig,
    )

    src = out / "src"
    tok = LlamaTokenizer(vocab_file=str(write_tiny_sentencepiece(src / "tokenizer.model")), legacy=False)
    tok.add_tokens([DEFAULT_IM_START_TOKEN, DEFAULT_IM_END_TOKEN, DEFAULT_VI_START_TOKEN, DEFAULT_VI_END_TOKEN],
                   special_tokens=True)
    tok.save_pretrained(src / "llm")
    torch.manual_seed(0)
    hidden = 32
    llm = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=64,
                                       num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                                       max_position_embeddings=1024, initializer_range=0.2, bos_token_id=1,
                                       eos_token_id=2))
    llm.generation_config = GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=0, do_sample=True,
                                             temperature=0.6, top_p=0.9)
    llm.save_pretrained(src / "llm")
    SiglipConfig(text_config=dict(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                  num_attention_heads=2, max_position_embeddings=16),
                 vision_config=dict(hidden_size=1024, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                    image_size=256, patch_size=16)).save_pretrained(src / "siglip")
    tower = RQVAESIGLIPTransformerConfig(
        rqvaesiglip=dict(embed_dim=1024, n_embed=1024, latent_shape=[16, 16, 1024], code_shape=[16, 16, 4],
                         shared_codebook=True, restart_unused_codes=True, pretrained_model=str(src / "siglip"),
                         architectures=["RQVAESiglipModel"],
                         ddconfig=dict(double_z=False, z_channels=32, resolution=256, in_channels=3, out_ch=3, ch=32,
                                       ch_mult=[1, 1, 1, 1, 1], num_res_blocks=1, attn_resolutions=[], dropout=0.0)),
        rqtransformer=dict(block_size=[16, 16, 4], input_embed_dim_1=1024, input_embed_dim_2=hidden, embed_dim=32,
                           vocab_size=1024, head={"block": {"n_head": 2}, "n_layer": 1}, architectures=["RQTransformer"]),
        hidden_size=1024, architectures=["RQVAESIGLIPTransformer"])
    RQVAESIGLIPTransformer(tower).save_pretrained(src / "vision_tower")
    cfg = VILAULlamaConfig(llm_cfg=str(src / "llm"), vision_tower_cfg=str(src / "vision_tower"),
                           mm_projector_cfg="mlp2x_gelu", architectures=["VILAULlamaModel"], mm_use_im_start_end=True,
                           mm_use_vi_start_end=True, mm_use_im_patch_token=False, image_aspect_ratio="resize")
    cfg.model_dtype = "torch.float32"
    VILAULlamaModel(cfg).save_pretrained(str(out / "vila-u-tiny"))
    return out / "vila-u-tiny"


@pytest.fixture(scope="module")
def vila_u(tmp_path_factory):
    from facebench_baselines._upstream_shims import flash_attn_placeholder, python310_dataclass_defaults
    from facebench_baselines.vila_u import VilaUAdapter

    code = _checkout("vila-u")
    _needs_environment(VilaUAdapter)
    flash_attn_placeholder()
    sys.path.insert(0, str(code))
    try:
        with python310_dataclass_defaults("vila_u"):
            importlib.import_module("vila_u")
        ckpt = build_tiny_vila_u(tmp_path_factory.mktemp("vila_u"))
        a = VilaUAdapter(pretrained=str(ckpt), code_path=str(code))
        a.load()
        yield a
        a.close()
    finally:
        _forget(("vila_u",), code)


def test_vila_u_answers_as_its_eval_wrapper(vila_u, face):
    """Equal to ``generate_content([PIL image, question])`` with the default generation config updated
    the way ``vila_u/eval/lmms/models/vila_u.py:76-77`` does for LLaVA-Bench (greedy), in vicuna_v1."""
    from PIL import Image

    from facebench_baselines._upstream_shims import tensor_cuda_goes_to

    got = vila_u.answer([_q(face, max_new_tokens=10)])[0]
    conv = importlib.import_module("vila_u.conversation")
    assert conv.default_conversation.get_prompt() == conv.conv_templates["vicuna_v1"].get_prompt()
    model = vila_u._m_model
    config = model.default_generation_config
    config.update(do_sample=False, temperature=0, top_p=1.0, num_beams=1, max_new_tokens=10)
    with tensor_cuda_goes_to("cpu"):
        want = model.generate_content([Image.open(face).convert("RGB"), "Is she smiling?"], generation_config=config)
    assert got == want.strip() and got
    info = vila_u.info()
    assert info["dtype"] == "bfloat16" and info["settings"]["conv_mode"] == "vicuna_v1"
    assert "Tensor.cuda() → .to(device) during upstream calls" in info["shims"]
    assert info["code"].startswith("git:096623cef36a")


def test_vila_u_generates_as_inference_py(vila_u):
    """Image k of a request = ``generate_image_content(prompt, cfg=3.0, 1)`` (``inference.py:39,71``)
    after seeding the global RNGs with ``seed + k``; 256² (the 1024-wide tower's size); seeds differ."""
    from facebench.adapters.research import seeded, to_pil
    from facebench.types import GenRequest
    from facebench_baselines._upstream_shims import tensor_cuda_goes_to

    imgs = vila_u.generate_images([GenRequest("a", "a smiling woman", n=2, seed=3, width=256, height=256)])[0]
    seeded(4)
    with tensor_cuda_goes_to("cpu"):
        ref = vila_u._m_model.generate_image_content("a smiling woman", 3.0, 1)
    assert ref.shape == (1, 3, 256, 256)
    assert imgs[1].tobytes() == to_pil(ref[0], value_range=(0.0, 255.0)).tobytes()
    assert imgs[0].tobytes() != imgs[1].tobytes()
