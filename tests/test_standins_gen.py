"""The generation-side research plugins (show-o, janusflow, omniflow, llamagen) and unif2ace's
bring-your-own path, on stand-in packages written here — for machines without the upstream
checkouts and their pinned environments (tests/test_upstream_*.py run the real code).

Each stand-in accepts exactly what the real code at the pinned commit accepts (signatures,
keyword-only arguments, the config keys it reads, the dtype its ``.to()`` casts to) and records the
calls, so the plugin's requests and settings are checked; a stand-in more permissive than upstream
would hide the bugs the real code exposes (Show-o's ``num_new_special_tokens``, Janus's bfloat16
cast). File:line references are to the pinned upstream commits.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from facebench.errors import FacebenchError
from facebench.types import ChatRequest, GenRequest
from tests.helpers import write_files as _write
from tests.test_baselines import load


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    pytest.importorskip("torch")
    from tests.tiny_models import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture()
def face(tmp_path) -> Path:
    from PIL import Image

    arr = np.random.default_rng(0).integers(0, 256, size=(40, 30, 3), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "face.png")
    return tmp_path / "face.png"


@pytest.fixture(scope="module")
def tiny_tok(tmp_path_factory) -> Path:
    from tests.tiny_models import build_tiny_tokenizer

    return build_tiny_tokenizer(tmp_path_factory.mktemp("tok") / "tok")


def _q(image, text="Is she smiling?", **params):
    return ChatRequest("d0", image, ({"role": "user", "content": text},), params)


def _a(img) -> np.ndarray:
    return np.asarray(img, dtype=np.int16)


# ---------------------------------------------------------------------------------------------- Show-o
FAKE_SHOWO = {
    "models/__init__.py": '''
import json, os, types
import torch
CALLS = []
def get_mask_chedule(method, **schedule_kwargs):  # models/sampling.py:64-74
    if method not in ("cosine", "linear", "sigmoid") and "pow" not in method:
        raise ValueError("Unknown schedule method: {}".format(method))
    CALLS.append(("schedule", method))
    return lambda t: torch.cos(t * 1.5707963)
class Showo(torch.nn.Module):
    def __init__(self, w_clip_vit, vocab_size, llm_vocab_size, llm_model_path="", codebook_size=8192,
                 num_vq_tokens=256, load_from_showo=True, **kwargs):  # models/modeling_showo.py:27-37
        super().__init__()
        self.config = types.SimpleNamespace(w_clip_vit=w_clip_vit, vocab_size=vocab_size, llm_vocab_size=llm_vocab_size,
                                            codebook_size=codebook_size, num_vq_tokens=num_vq_tokens,
                                            mask_token_id=vocab_size - 1)
        self.w = torch.nn.Parameter(torch.ones(()))
    @classmethod
    def from_pretrained(cls, path, **kwargs):
        CALLS.append(("showo", str(path)))
        cfg = json.load(open(os.path.join(path, "config.json")))
        return cls(**cfg)
    def t2i_generate(self, input_ids=None, uncond_input_ids=None, attention_mask=None, temperature=1.0, timesteps=18,
                     guidance_scale=0, noise_schedule=None, generator=None, config=None, **kwargs):
        # the config keys the real method reads (models/modeling_showo.py:122-144)
        n = config.model.showo.num_vq_tokens
        new = config.model.showo.num_new_special_tokens
        llm = config.model.showo.llm_vocab_size
        prefix = config.dataset.preprocessing.max_seq_length + 1
        assert self.config.vocab_size == llm + new + config.model.showo.codebook_size + 1
        assert input_ids.shape[1] == prefix + 1 + n + 1
        CALLS.append(("t2i", dict(rows=input_ids.shape[0], uncond=uncond_input_ids is not None,
                                  guidance_scale=guidance_scale, timesteps=timesteps, temperature=temperature,
                                  seq_len=kwargs["seq_len"], mask_rows=attention_mask.shape[0], generator=generator)))
        shift = int(input_ids[:, :prefix].sum()) % 97
        return (torch.randint(0, 150, (input_ids.shape[0], n), generator=generator) + shift) * 50
    def mmu_generate(self, idx=None, input_embeddings=None, attention_mask=None, max_new_tokens=100, temperature=1.0,
                     top_k=None, eot_token=None):
        CALLS.append(("mmu", dict(max_new_tokens=max_new_tokens, top_k=top_k, temperature=temperature, eot=eot_token)))
        return [t for t in idx[0, 2 + 16 + 2:]]  # after <|mmu|> <|soi|> 16 image tokens <|eoi|> <|sot|>
class MAGVITv2(torch.nn.Module):
    def __init__(self):
        super().__init__()
    @classmethod
    def from_pretrained(cls, path, **kwargs):
        CALLS.append(("vq", str(path)))
        return cls()
    def decode_code(self, codebook_indices, shape=None):
        b, n = codebook_indices.shape
        side = int(n ** 0.5)
        x = (codebook_indices.float() / 8191.0) * 2 - 1
        x = x.reshape(b, 1, side, side).repeat(1, 3, 1, 1)
        return torch.nn.functional.interpolate(x, scale_factor=16, mode="nearest")
    def get_code(self, pixel_values):
        CALLS.append(("get_code", tuple(pixel_values.shape)))
        assert pixel_values.min() >= -1 and pixel_values.max() <= 1
        side = pixel_values.shape[-1] // 16
        pooled = torch.nn.functional.avg_pool2d(pixel_values.mean(1, keepdim=True), 16)
        return ((pooled + 1) * 100).long().reshape(pixel_values.shape[0], side * side)
''',
    "training/__init__.py": "",
    "training/utils.py": '''
from torchvision import transforms
CALLS = []
def image_transform(image, resolution=256, normalize=True):  # training/utils.py:179-185: bicubic
    CALLS.append(("image_transform", image.size, resolution))
    image = transforms.Resize(resolution, interpolation=transforms.InterpolationMode.BICUBIC)(image)
    image = transforms.CenterCrop((resolution, resolution))(image)
    image = transforms.ToTensor()(image)
    if normalize:
        image = transforms.Normalize(mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5], inplace=True)(image)
    return image
''',
    "training/prompting_utils.py": '''
import torch
class UniversalPrompting:  # training/prompting_utils.py:18-37: adds [PAD] + the special tokens
    def __init__(self, text_tokenizer, special_tokens=("<|soi|>", "<|eoi|>", "<|sov|>", "<|eov|>", "<|t2i|>",
                 "<|mmu|>", "<|t2v|>", "<|v2v|>", "<|lvg|>"), max_text_len=8000, max_seq_len=377, ignore_id=-100,
                 cond_dropout_prob=0.1):
        self.text_tokenizer = text_tokenizer
        self.text_tokenizer.add_special_tokens({"pad_token": "[PAD]"})
        self.text_tokenizer.add_tokens(list(special_tokens))
        self.sptids_dict = {t: torch.tensor(self.text_tokenizer.convert_tokens_to_ids([t])) for t in special_tokens}
        self.sptids_dict["<|sot|>"] = torch.tensor([self.text_tokenizer.bos_token_id])
        self.sptids_dict["<|eot|>"] = torch.tensor([self.text_tokenizer.eos_token_id])
        self.sptids_dict["<|pad|>"] = torch.tensor([self.text_tokenizer.pad_token_id])
        self.max_text_len = max_text_len + 1
    def __call__(self, input, task, padding=True, config=None):
        assert task == "t2i_gen"
        texts, image_ids = input
        rows = []
        for t in texts:
            ids = [self.text_tokenizer.bos_token_id] + self.text_tokenizer(t)["input_ids"]
            ids = [int(self.sptids_dict["<|t2i|>"])] + ids + [self.text_tokenizer.eos_token_id]
            ids = [self.text_tokenizer.pad_token_id] * (self.max_text_len - len(ids)) + ids[:self.max_text_len]
            rows.append(ids + [int(self.sptids_dict["<|soi|>"])])
        text = torch.tensor(rows, device=image_ids.device)
        eoi = torch.full((len(texts), 1), int(self.sptids_dict["<|eoi|>"]), device=image_ids.device)
        return torch.cat([text, image_ids, eoi], dim=1), None
def create_attention_mask_predict_next(sequence, pad_id=128256, soi_id=128257, eoi_id=128258, rm_pad_in_image=False,
                                       return_inverse_mask=True):
    return torch.zeros(sequence.shape[0], 1, sequence.shape[1], sequence.shape[1])
def create_attention_mask_for_mmu(sequence, eoi_id=128258, return_inverse_mask=True):
    return torch.zeros(sequence.shape[0], 1, sequence.shape[1], sequence.shape[1])
''',
}


def _showo_checkpoint(path: Path, tok_dir: Path, num_vq_tokens: int = 16) -> Path:
    from transformers import AutoTokenizer

    n_text = len(AutoTokenizer.from_pretrained(tok_dir))
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(dict(w_clip_vit=False, vocab_size=n_text + 10 + 8192 + 1,
                                                      llm_vocab_size=n_text, codebook_size=8192,
                                                      num_vq_tokens=num_vq_tokens)))
    return path


def test_showo_plumbing(tmp_path, tiny_tok, face, clean_imports):
    code = _write(tmp_path / "showo_code", FAKE_SHOWO)
    ckpt = _showo_checkpoint(tmp_path / "ckpt", tiny_tok)
    a = load("show-o")(pretrained=str(ckpt), code_path=str(code), llm_model=str(tiny_tok), resolution=64,
                       vq_model="local/vq")
    reqs = [GenRequest("a", "a smiling young woman", n=2, seed=5, width=48, height=48),
            GenRequest("b", "an old man", n=1, seed=5, width=64, height=64)]
    out = a.generate_images(reqs)
    calls = sys.modules["models"].CALLS
    t2i = [c[1] for c in calls if c[0] == "t2i"]
    assert len(t2i) == 3  # one call per image, global RNG seeded per image (inference_t2i.py passes no generator)
    assert t2i[0] == dict(rows=1, uncond=True, guidance_scale=5.0, timesteps=50, temperature=1.0, seq_len=16,
                          mask_rows=2, generator=None)
    assert ("schedule", "cosine") in calls and ("vq", "local/vq") in calls and ("showo", str(ckpt)) in calls
    assert out[0][0].size == (48, 48) and out[1][0].size == (64, 64)
    assert np.abs(_a(out[0][0]) - _a(out[0][1])).max() > 0
    again = a.generate_images(list(reversed(reqs)))[::-1]
    assert all(x.tobytes() == y.tobytes() for x, y in zip(sum(out, []), sum(again, [])))
    assert a.generate_images([GenRequest("a", "a smiling young woman", seed=6, width=48, height=48)])[0][0].tobytes() \
        == out[0][1].tobytes()
    a.generate_images([GenRequest("a", "x", seed=1, width=8, height=8, params={"guidance_scale": 0})])
    assert [c[1] for c in calls if c[0] == "t2i"][-1]["uncond"] is False
    # understanding: the repo's bicubic image_transform → 16 tokens, 'USER: \n{q} ASSISTANT:' after <|sot|>, top_k 1
    ans = a.answer([_q(face)])
    assert ans == ["USER: \nIs she smiling? ASSISTANT:"]
    assert ("image_transform", (30, 40), 64) in sys.modules["training.utils"].CALLS
    assert ("get_code", (1, 3, 64, 64)) in calls
    mmu = [c[1] for c in calls if c[0] == "mmu"][-1]
    eos = a._m_uni.text_tokenizer.eos_token_id
    assert mmu == dict(max_new_tokens=100, top_k=1, temperature=1.0, eot=eos)
    assert a.info()["settings"]["guidance_scale"] == 5.0
    assert a.info()["checkpoint_config"]["num_new_special_tokens"] == 10  # [PAD] + 9 task tokens


def test_showo_checks_checkpoint_against_tokenizer_and_resolution(tmp_path, tiny_tok, clean_imports):
    code = _write(tmp_path / "showo_code", FAKE_SHOWO)
    ckpt = _showo_checkpoint(tmp_path / "ckpt", tiny_tok, num_vq_tokens=1024)
    with pytest.raises(FacebenchError, match="resolution=512"):
        load("show-o")(pretrained=str(ckpt), code_path=str(code), llm_model=str(tiny_tok), resolution=64,
                       vq_model="v").generate_images([GenRequest("a", "x")])
    cfg = json.loads((ckpt / "config.json").read_text())
    (ckpt / "config.json").write_text(json.dumps(dict(cfg, vocab_size=cfg["vocab_size"] + 3)))
    with pytest.raises(FacebenchError, match="does not match checkpoint"):
        load("show-o")(pretrained=str(ckpt), code_path=str(code), llm_model=str(tiny_tok),
                       vq_model="v").generate_images([GenRequest("a", "x")])


# ------------------------------------------------------------------------------------------ UniF²ace
USER_UNIF2ACE = {"my_unif2ace/__init__.py": '''
import torch
from PIL import Image
CALLS = []
class _Model:
    def __init__(self, **kw):
        self.kw = kw
    def generate(self, prompt, seed, params):
        CALLS.append(("gen", prompt, seed, dict(params)))
        v = int(torch.randint(0, 256, (1,)))  # global RNG: facebench seeds it with the image's seed
        return Image.new("RGB", (24, 24), (v, len(prompt) % 256, 0))
    def answer(self, image, messages, params):
        CALLS.append(("und", image.size, messages[-1]["content"]))
        return f" answer to {messages[-1]['content']} "
def load(pretrained, device, dtype, **settings):
    CALLS.append(("load", pretrained, device, str(dtype), settings))
    return _Model(**settings)
'''}


def test_unif2ace_runs_the_users_code_and_checkpoint(tmp_path, face, clean_imports):
    code = _write(tmp_path / "user_code", USER_UNIF2ACE)
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("# mine\ntorch==2.14.1\nmy-moe-lib==0.3.1\n")
    cls = load("unif2ace")
    a = cls(pretrained=str(tmp_path / "ckpt"), code_path=str(code), entry="my_unif2ace:load", guidance_scale=3.0,
            requirements=str(reqs))
    out = a.generate_images([GenRequest("a", "a woman", n=2, seed=4, width=24, height=24)])[0]
    alone = a.generate_images([GenRequest("a", "a woman", seed=5, width=24, height=24)])[0][0]
    assert out[1].tobytes() == alone.tobytes() and out[0].tobytes() != out[1].tobytes()
    calls = sys.modules["my_unif2ace"].CALLS
    assert calls[0] == ("load", str(tmp_path / "ckpt"), "cpu", "torch.float32", {"guidance_scale": 3.0})
    assert [c[2] for c in calls if c[0] == "gen"] == [4, 5, 5]
    assert a.answer([_q(face)]) == ["answer to Is she smiling?"]
    info = a.info()
    assert info["settings"] == {"guidance_scale": 3.0} and info["entry"] == "my_unif2ace:load"
    assert info["code"].startswith("file:")
    env = cls.environment_for(a.model_args)
    assert env.requirements == ("torch==2.14.1", "my-moe-lib==0.3.1") and env.upstream is None
    fp = a.fingerprint()
    reqs.write_text("torch==2.14.1\nmy-moe-lib==0.3.2\n")
    assert cls(pretrained=str(tmp_path / "ckpt"), code_path=str(code), entry="my_unif2ace:load", guidance_scale=3.0,
               requirements=str(reqs)).fingerprint() != fp  # another environment, other cache keys


def test_unif2ace_says_plainly_what_is_missing(tmp_path, clean_imports):
    cls = load("unif2ace")
    assert cls.default_checkpoint is None and cls.environment.upstream is None
    assert not issubclass(cls, load("show-o"))  # no Show-o classes, config or prompt layout assumed
    with pytest.raises(FacebenchError, match="not public"):
        cls()
    with pytest.raises(FacebenchError, match="code_path="):
        cls(pretrained="x").generate_images([GenRequest("a", "x")])
    code = _write(tmp_path / "user_code", USER_UNIF2ACE)
    with pytest.raises(FacebenchError, match="entry=<module>:<function>"):
        cls(pretrained="x", code_path=str(code)).generate_images([GenRequest("a", "x")])
    bad = tmp_path / "req.txt"
    bad.write_text("torch>=2\n")
    with pytest.raises(FacebenchError, match="not pinned"):
        cls.environment_for({"requirements": str(bad)})


# ------------------------------------------------------------------------------------------- JanusFlow
FAKE_JANUSFLOW = {
    "janus/__init__.py": "",
    "janus/janusflow/__init__.py": "",
    "janus/janusflow/models/__init__.py": '''
import types
import torch
import torch.nn as nn
CALLS = []
class _Tok:
    bos_token_id, eos_token_id = 1, 2
    def encode(self, text):
        return [1] + [3 + (ord(c) % 50) for c in text]
    def decode(self, ids, skip_special_tokens=True):
        return "".join(chr(97 + (i % 26)) for i in ids if i > 2)
class _Batch(dict):
    __getattr__ = dict.__getitem__
    def to(self, device, dtype=torch.bfloat16):  # processing_vlm.py:63-68: pixels cast, bfloat16 by default
        self["pixel_values"] = self["pixel_values"].to(device=device, dtype=dtype)
        return self
class VLChatProcessor:  # processing_vlm.py:84-140
    sft_format, image_gen_tag, image_start_tag, pad_id, image_gen_id = "deepseek", "<gen>", "<begin_of_image>", 0, 52
    def __init__(self):
        self.tokenizer = _Tok()
    @classmethod
    def from_pretrained(cls, path, **kwargs):
        CALLS.append(("proc", str(path)))
        return cls()
    def apply_sft_template_for_multi_turn_prompts(self, conversations, sft_format="deepseek", system_prompt=""):
        CALLS.append(("sft", sft_format, system_prompt))
        return "".join(f"<|{c['role']}|>: {c['content']}\\n" for c in conversations)
    def __call__(self, *, prompt=None, conversations=None, images=None, force_batchify=True, **kwargs):
        CALLS.append(("und", conversations, [im.size for im in images]))
        ids = torch.tensor([self.tokenizer.encode(conversations[0]["content"])])
        return _Batch(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=torch.zeros(1, 1, 3, 8, 8),
                      images_seq_mask=torch.zeros_like(ids, dtype=torch.bool),
                      images_emb_mask=torch.zeros(1, 1, 4, dtype=torch.bool))
class _Inner(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.lin = nn.Linear(d, d)
    def forward(self, inputs_embeds=None, attention_mask=None, use_cache=None, past_key_values=None, **kwargs):
        CALLS.append(("llm", tuple(inputs_embeds.shape), tuple(attention_mask.shape)))
        return types.SimpleNamespace(last_hidden_state=self.lin(inputs_embeds) + inputs_embeds.mean(1, keepdim=True))
class _LM(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.emb = nn.Embedding(100, d)
        self.model = _Inner(d)
    def get_input_embeddings(self):
        return self.emb
    def generate(self, inputs_embeds=None, attention_mask=None, max_new_tokens=20, do_sample=False, **kw):
        CALLS.append(("generate", max_new_tokens, do_sample, inputs_embeds.dtype))
        return torch.arange(3, 8).unsqueeze(0)
class _Enc(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.conv = nn.Conv2d(4, 6, 2, stride=2)
        self.t = nn.Linear(1, d)
    def forward(self, x, timesteps):
        CALLS.append(("t", timesteps.dtype))
        return self.conv(x), self.t(timesteps[:, None] / 1000.0), [x]
class _Dec(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose2d(5, 4, 2, stride=2)
    def forward(self, x, hs, t_emb):
        return self.up(x) * 0.1 - hs.pop() * 0.05
class MultiModalityCausalLM(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        d = 8
        self.language_model = _LM(d)
        self.vision_und_enc_model = nn.Conv2d(3, d, 8)  # float32 weights: bfloat16 pixels fail as in the real model
        self.vision_gen_enc_model = _Enc(d)
        self.vision_gen_enc_aligner = nn.Linear(6, d)
        self.vision_gen_dec_aligner_norm = nn.LayerNorm(d)
        self.vision_gen_dec_aligner = nn.Linear(d, 5)
        self.vision_gen_dec_model = _Dec()
    @classmethod
    def from_pretrained(cls, path, **kwargs):
        CALLS.append(("model", str(path)))
        return cls()
    def prepare_inputs_embeds(self, input_ids, pixel_values, images_seq_mask, images_emb_mask, **kwargs):
        feats = self.vision_und_enc_model(pixel_values[:, 0])  # modeling_vlm.py:193-196
        return self.language_model.emb(input_ids % 100) + feats.mean() * 0
''',
}


def _tiny_vae(path: Path) -> Path:
    from diffusers import AutoencoderKL

    AutoencoderKL(block_out_channels=(32, 32), in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1,
                  down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                  norm_num_groups=32, sample_size=16).save_pretrained(path)
    return path


def test_janusflow_plumbing(tmp_path, face, clean_imports):
    pytest.importorskip("diffusers")
    import torch

    code = _write(tmp_path / "janus_code", FAKE_JANUSFLOW)
    a = load("janusflow")(pretrained=str(tmp_path / "ckpt"), code_path=str(code), vae=str(_tiny_vae(tmp_path / "vae")),
                          resolution=64, num_inference_steps=3)
    out = a.generate_images([GenRequest("a", "a woman", n=2, seed=9, width=20, height=20)])[0]
    calls = sys.modules["janus.janusflow.models"].CALLS
    llm = [c for c in calls if c[0] == "llm"]
    assert len(llm) == 6  # 3 ODE steps per image, CFG rows batched (2 rows)
    assert llm[0][1][0] == 2 and llm[0][1][1] == llm[0][2][1]  # attention mask covers prefix + t_emb + 16 latents
    assert ("sft", "deepseek", "") in calls and ("t", torch.float32) in calls
    assert [im.size for im in out] == [(20, 20), (20, 20)] and np.abs(_a(out[0]) - _a(out[1])).max() > 0
    alone = a.generate_images([GenRequest("a", "a woman", seed=10, width=20, height=20)])[0][0]
    assert alone.tobytes() == out[1].tobytes()
    assert a.answer([_q(face)]) == ["defgh"]  # float32 model: pixels cast to float32, not the bf16 default
    und = [c for c in calls if c[0] == "und"][-1]
    assert und[1][0]["content"] == "<image_placeholder>\nIs she smiling?" and und[2] == [(30, 40)]
    assert [c for c in calls if c[0] == "generate"][-1] == ("generate", 512, False, torch.float32)


# -------------------------------------------------------------------------------------------- OmniFlow
FAKE_OMNIFLOW = {"omniflow/__init__.py": '''
import os
import torch
from PIL import Image
CALLS = []
class OmniFlowPipeline:
    cfg_mode = "old"  # omniflow_pipeline.py:353
    @staticmethod
    def load_pretrained(path, device="cuda", weight_dtype=torch.bfloat16, load_ema=False):
        # joins file names onto path (omniflow_pipeline.py:278): it must be a local folder
        if not os.path.isdir(path):
            raise OSError(f"{path}/transformer/diffusion_pytorch_model.bin not found")
        CALLS.append(("load", str(path), str(device), weight_dtype))
        return OmniFlowPipeline()
    def __call__(self, prompt=None, height=None, width=None, num_inference_steps=28, guidance_scale=7.0,
                 add_token_embed=False, task="t2i", input_img=None, v_pred=True, return_embed=False,
                 use_text_output=True, drop_pool=False, cfg_mode=None):
        kw = dict(height=height, width=width, num_inference_steps=num_inference_steps, guidance_scale=guidance_scale,
                  add_token_embed=add_token_embed, cfg_mode=self.cfg_mode, drop_pool=drop_pool)
        CALLS.append((task, prompt, kw))
        if task == "t2i":
            arr = torch.randint(0, 256, (height // 16, width // 16, 3), dtype=torch.uint8).numpy()
            return type("Out", (), {"images": [Image.fromarray(arr)]})()
        cap = f"<s> a caption of a {input_img.size[0]}x{input_img.size[1]} face</s>"
        return [cap], ["<s> text from the prompt</s>"]
'''}


def test_omniflow_plumbing(tmp_path, face, clean_imports, monkeypatch):
    code = _write(tmp_path / "omni_code", FAKE_OMNIFLOW)
    ckpt = tmp_path / "OmniFlow-v0.5"
    ckpt.mkdir()
    import huggingface_hub

    fetched = []
    monkeypatch.setattr(huggingface_hub, "snapshot_download",
                        lambda repo_id, revision=None, **kw: fetched.append(repo_id) or str(ckpt))
    a = load("omniflow")(code_path=str(code))
    out = a.generate_images([GenRequest("a", "a woman", n=2, seed=1, width=32, height=32)])[0]
    assert out[0].size == (32, 32) and out[0].tobytes() != out[1].tobytes()
    alone = a.generate_images([GenRequest("a", "a woman", seed=2, width=32, height=32)])[0][0]
    assert alone.tobytes() == out[1].tobytes()
    calls = sys.modules["omniflow"].CALLS
    assert fetched == ["jacklishufan/OmniFlow-v0.5"]  # the hub id becomes a local folder first
    assert calls[0][:3] == ("load", str(ckpt), "cpu")
    assert calls[1] == ("t2i", "a woman", dict(height=512, width=512, num_inference_steps=28, guidance_scale=7.0,
                                               add_token_embed=0, cfg_mode="new", drop_pool=False))  # readme.MD:37-40
    assert a.answer([_q(face)]) == ["a caption of a 30x40 face"]  # <s>, </s> removed
    assert calls[-1] == ("i2t", "", dict(height=512, width=512, num_inference_steps=28, guidance_scale=2.0,
                                         add_token_embed=1, cfg_mode="new", drop_pool=False))  # omniflow_pipeline.py:984
    local = load("omniflow")(pretrained=str(ckpt), code_path=str(code))
    local.generate_images([GenRequest("a", "x", width=8, height=8)])
    assert fetched == ["jacklishufan/OmniFlow-v0.5"]  # a local folder is used as is


# -------------------------------------------------------------------------------------------- LlamaGen
FAKE_LLAMAGEN = {
    "tokenizer/__init__.py": "",
    "tokenizer/tokenizer_image/__init__.py": "",
    "tokenizer/tokenizer_image/vq_model.py": '''
import torch
import torch.nn as nn
class _VQ(nn.Module):
    def __init__(self, codebook_size=16384, codebook_embed_dim=8):
        super().__init__()
        self.cs = codebook_size
        self.w = nn.Parameter(torch.zeros(1))
    def decode_code(self, code_b, shape=None, channel_first=True):  # vq_model.py:52
        b, d, h, w = shape
        x = code_b.float().reshape(b, 1, h, w) / (self.cs - 1) * 2 - 1
        return nn.functional.interpolate(x.repeat(1, 3, 1, 1), scale_factor=16)
VQ_models = {"VQ-16": lambda **kw: _VQ(**kw)}
''',
    "autoregressive/__init__.py": "",
    "autoregressive/models/__init__.py": "",
    "autoregressive/models/gpt.py": '''
import torch
import torch.nn as nn
CALLS = []
class _GPT(nn.Module):
    def __init__(self, block_size=256, cls_token_num=1, model_type="c2i"):
        super().__init__()
        CALLS.append((block_size, cls_token_num, model_type))
        self.w = nn.Parameter(torch.zeros(1))
GPT_models = {"GPT-XL": lambda **kw: _GPT(**kw)}
''',
    "autoregressive/models/generate.py": '''
import torch
CALLS = []
def generate(model, cond, max_new_tokens, emb_masks=None, cfg_scale=1.0, cfg_interval=-1, **sampling_kwargs):
    CALLS.append(dict(shape=tuple(cond.shape), n=max_new_tokens, cfg=cfg_scale, mask_first=float(emb_masks[0, 0]),
                      mask_last=float(emb_masks[0, -1]), **sampling_kwargs))
    return torch.randint(0, 16384, (cond.shape[0], max_new_tokens))
''',
    "language/__init__.py": "",
    "language/t5.py": '''
import torch
CALLS = []
class T5Embedder:  # language/t5.py:19-20: everything after dir_or_name is keyword-only
    def __init__(self, device, dir_or_name="t5-v1_1-xxl", *, local_cache=False, cache_dir=None, hf_token=None,
                 use_text_preprocessing=True, t5_model_kwargs=None, torch_dtype=None, use_offload_folder=None,
                 model_max_length=120):
        CALLS.append((str(cache_dir), dir_or_name, local_cache, model_max_length))
        self.n = model_max_length
    def get_text_embeddings(self, texts):
        k = min(len(texts[0].split()), self.n)
        emb, mask = torch.ones(1, self.n, 4), torch.zeros(1, self.n, dtype=torch.long)
        mask[0, :k] = 1
        return emb, mask
''',
}


def test_llamagen_plumbing(tmp_path, clean_imports):
    import torch

    code = _write(tmp_path / "llamagen_code", FAKE_LLAMAGEN)
    opts = argparse.Namespace(gpt_model="GPT-XL", lr=1e-4)  # what its training scripts store beside the weights
    torch.save({"model": {"w": torch.zeros(1)}, "args": opts}, tmp_path / "gpt.pt")
    torch.save({"model": {"w": torch.zeros(1)}, "steps": 3, "args": opts}, tmp_path / "vq.pt")
    with pytest.raises(FacebenchError, match="t5_path"):
        load("llamagen")(pretrained=str(tmp_path / "gpt.pt"), vq_ckpt=str(tmp_path / "vq.pt"),
                         code_path=str(code)).generate_images([GenRequest("a", "x")])
    a = load("llamagen")(pretrained=str(tmp_path / "gpt.pt"), vq_ckpt=str(tmp_path / "vq.pt"), t5_path=str(tmp_path),
                         code_path=str(code), image_size=64)
    out = a.generate_images([GenRequest("a", "a smiling woman with glasses", n=2, seed=0, width=32, height=32)])[0]
    assert out[0].size == (32, 32) and out[0].tobytes() != out[1].tobytes()
    assert a.generate_images([GenRequest("a", "a smiling woman with glasses", seed=1, width=32, height=32)])[0][0] \
        .tobytes() == out[1].tobytes()
    gen = sys.modules["autoregressive.models.generate"].CALLS[0]
    assert gen == dict(shape=(1, 120, 4), n=16, cfg=7.5, top_k=1000, top_p=1.0, temperature=1.0, sample_logits=True,
                       mask_first=0.0, mask_last=1.0)  # left-padded T5 condition, sample_t2i.py defaults
    assert sys.modules["autoregressive.models.gpt"].CALLS == [(16, 120, "t2i")]
    assert sys.modules["language.t5"].CALLS == [(str(tmp_path), "flan-t5-xl", True, 120)]
    model_dir = tmp_path / "t5" / "flan-t5-xl-local"
    model_dir.mkdir(parents=True)
    (model_dir / "config.json").write_text("{}")
    b = load("llamagen")(pretrained=str(tmp_path / "gpt.pt"), vq_ckpt=str(tmp_path / "vq.pt"), t5_path=str(model_dir),
                         code_path=str(code), image_size=64)
    b.generate_images([GenRequest("a", "x", width=8, height=8)])
    assert sys.modules["language.t5"].CALLS[-1] == (str(model_dir.parent), "flan-t5-xl-local", True, 120)
    assert a.weights_revision().count("local:") == 2
    with pytest.raises(FacebenchError, match="cannot answer"):
        a.answer([_q(None)])


def test_llamagen_checkpoint_allow_list_is_exactly_argparse_namespace(tmp_path):
    import torch

    load_checkpoint = sys.modules[load("llamagen").__module__].load_checkpoint
    torch.save({"model": {}, "args": argparse.Namespace(a=1)}, tmp_path / "ok.pt")
    assert load_checkpoint(str(tmp_path / "ok.pt"))["args"].a == 1
    torch.save({"model": {}, "path": Path("/x")}, tmp_path / "bad.pt")
    with pytest.raises(Exception, match="(?i)unsupported global"):
        load_checkpoint(str(tmp_path / "bad.pt"))
    with pytest.raises(Exception, match="(?i)unsupported global"):  # the allow-list does not outlive the call
        torch.load(tmp_path / "ok.pt", weights_only=True)
