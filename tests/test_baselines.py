"""Baseline plugins (baselines/ = import package ``facebench_baselines``): every family is registered
in pyproject.toml, carries the paper's defaults and capabilities, and its request/response
plumbing works end to end — generic-backend baselines on tiny random models, research-code
baselines on stand-in research packages written here into a temp folder that mimic the API each
plugin calls (``code_path=``)."""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import write_files as _write

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

from facebench.errors import FacebenchError
from facebench.types import ChatRequest, GenRequest

REPO = Path(__file__).resolve().parent.parent

PAPER_CAPS = {  # from the paper's tables: generation-only, understanding-only, unified
    "llamagen": {"generate"}, "sd3": {"generate"}, "sdxl": {"generate"}, "flux-dev": {"generate"},
    "dall-e-3": {"generate"},
    "vila-1.5": {"understand"}, "qwen2-vl": {"understand"}, "llava-1.5": {"understand"},
    "internvl-2.5": {"understand"},
    "unif2ace": {"generate", "understand"}, "show-o": {"generate", "understand"},
    "janusflow": {"generate", "understand"}, "janus-pro": {"generate", "understand"},
    "vila-u": {"generate", "understand"}, "tokenflow": {"generate", "understand"},
    "omniflow": {"generate", "understand"},
}


def _baselines_package() -> None:
    """Make ``facebench_baselines`` importable from the source tree when facebench is not installed."""
    try:
        importlib.import_module("facebench_baselines")
        return
    except ImportError:
        pass
    spec = importlib.util.spec_from_file_location("facebench_baselines", REPO / "baselines" / "__init__.py",
                                                  submodule_search_locations=[str(REPO / "baselines")])
    mod = importlib.util.module_from_spec(spec)
    sys.modules["facebench_baselines"] = mod
    spec.loader.exec_module(mod)


def _entries() -> dict[str, str]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    return data["project"]["entry-points"]["facebench.models"]


def load(name: str):
    _baselines_package()
    module, _, attr = _entries()[name].partition(":")
    return getattr(importlib.import_module(module), attr)


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


@pytest.fixture(scope="module")
def tiny_tok(tmp_path_factory) -> Path:
    from tiny_models import build_tiny_tokenizer

    return build_tiny_tokenizer(tmp_path_factory.mktemp("tok") / "tok")


def _q(image, text="Is she smiling?", **params):
    return ChatRequest("d0", image, ({"role": "user", "content": text},), params)


def _a(img) -> np.ndarray:
    return np.asarray(img, dtype=np.int16)


# ------------------------------------------------------------------------------------------ registry
def test_every_family_is_registered_with_its_defaults():
    import yaml

    entries = _entries()
    assert set(entries) == set(PAPER_CAPS)
    reported = set()
    for f in (REPO / "baselines" / "reported").glob("*.yaml"):
        reported |= {m["model"] for m in yaml.safe_load(f.read_text())["models"]}
    for name in entries:
        cls = load(name)
        assert cls.name == name, name
        assert set(cls.capabilities) == PAPER_CAPS[name], name
        assert cls.description and isinstance(cls.requires, tuple) and all(isinstance(r, str) for r in cls.requires)
        if cls.paper_model is not None:
            assert cls.paper_model in reported, (name, cls.paper_model)
        if name == "unif2ace":
            assert cls.default_checkpoint is None  # weights are not public
        else:
            assert cls.default_checkpoint, name
    assert {load(n).paper_model for n in entries} >= {"UniF²ace", "Show-o", "JanusFlow", "TokenFlow", "OmniFlow",
                                                       "LlamaGen", "SD3", "SDXL", "Flux.1-dev", "DALL-E 3", "VILA1.5",
                                                       "Qwen2-VL", "LLaVA-v1.5", "InternVL2.5"}


def test_modules_import_without_torch_side_effects():
    """Plugins import no heavy library at module level (so `facebench ls models` stays fast)."""
    import subprocess

    code = ("import sys, importlib; sys.path.insert(0, 'tests');"
            "import test_baselines as t; [t.load(n) for n in t.PAPER_CAPS];"
            "print(sorted(m for m in ('torch', 'transformers', 'diffusers', 'openai') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_paper_settings_defaults():
    sd3, sdxl, flux = load("sd3"), load("sdxl"), load("flux-dev")
    assert sd3.default_args == {"num_inference_steps": 28, "guidance_scale": 7.0, "resolution": 1024}
    assert sdxl.default_args["num_inference_steps"] == 50 and sdxl.default_args["guidance_scale"] == 5.0
    assert flux.default_args["guidance_scale"] == 3.5 and flux.default_args["max_sequence_length"] == 512
    show = load("show-o").default_args
    assert show["guidance_scale"] == 5.0 and show["generation_timesteps"] == 50 and show["resolution"] == 512
    assert load("janusflow").default_args["num_inference_steps"] == 30
    assert load("llamagen").default_args["cfg_scale"] == 7.5 and load("llamagen").default_args["top_k"] == 1000
    assert load("tokenflow").default_args["cfg"] == 7.5
    assert load("janus-pro").default_args["guidance_scale"] == 5.0
    # user model_args win over the defaults, and are recorded
    a = sd3(pretrained="x", guidance_scale=4.5)
    assert a.model_args["guidance_scale"] == 4.5 and a.model_args["num_inference_steps"] == 28
    assert load("llava-1.5")().pretrained == "llava-hf/llava-1.5-7b-hf"
    assert load("qwen2-vl")().pretrained == "Qwen/Qwen2-VL-7B-Instruct"
    assert load("internvl-2.5")().pretrained == "OpenGVLab/InternVL2_5-8B-MPO-hf"


def test_unif2ace_needs_a_user_checkpoint_and_says_why():
    with pytest.raises(FacebenchError, match="pretrained=.*not public"):
        load("unif2ace")()


@pytest.mark.parametrize("name,hint", [("show-o", "https://github.com/showlab/Show-o"),
                                       ("janusflow", "deepseek-ai/Janus"), ("vila-u", "mit-han-lab/vila-u"),
                                       ("tokenflow", "ByteFlow-AI/TokenFlow"), ("omniflow", "OmniFlows"),
                                       ("llamagen", "FoundationVision/LlamaGen"), ("vila-1.5", "NVlabs/VILA"),
                                       ("unif2ace", "code is not public")])
def test_missing_research_code_says_what_to_install(name, hint, tmp_path, clean_imports):
    from facebench.adapters.research import ResearchCodeMissing

    empty = tmp_path / "empty"
    empty.mkdir()
    cls = load(name)
    extra = {"t5_path": str(tmp_path)} if name == "llamagen" else {}  # other families refuse unknown keys
    a = cls(pretrained=str(tmp_path / "ckpt"), code_path=str(empty), **extra)
    req = GenRequest("a", "a face") if "generate" in cls.capabilities else None
    with pytest.raises(ResearchCodeMissing, match="research code not found") as e:
        a.generate_images([req]) if req else a.answer([_q(None)])
    assert hint in str(e.value)


# ------------------------------------------------------------------------ generic-backend baselines
def test_llava15_and_qwen2vl_and_internvl_run_on_tiny_models(tmp_path, face):
    from tiny_models import build_tiny_llava, build_tiny_qwen2_vl

    llava = build_tiny_llava(tmp_path / "llava")
    qwen = build_tiny_qwen2_vl(tmp_path / "qwen")
    for name, path in (("llava-1.5", llava), ("qwen2-vl", qwen), ("internvl-2.5", qwen)):
        a = load(name)(pretrained=str(path), batch_size=2)
        out = a.answer([_q(face, max_new_tokens=4), _q(face, "What color is the hair?", max_new_tokens=4)])
        assert len(out) == 2 and all(o.strip() for o in out), name
        with pytest.raises(FacebenchError, match="cannot generate"):
            a.generate_images([GenRequest("a", "x")])
        a.close()


def test_janus_pro_runs_both_ways_on_tiny_janus(tmp_path, face):
    from tiny_models import build_tiny_janus

    a = load("janus-pro")(pretrained=str(build_tiny_janus(tmp_path / "janus")))
    imgs = a.generate_images([GenRequest("a", "a smiling woman", n=2, seed=4, width=16, height=16)])[0]
    assert len(imgs) == 2 and imgs[0].size == (16, 16)
    assert a.answer([_q(face, max_new_tokens=3)])[0].strip()
    assert a.info()["guidance_scale"] == 5.0


def test_sd3_defaults_overridable_on_tiny_pipeline(tmp_path):
    pytest.importorskip("diffusers")
    pytest.importorskip("open_clip")
    from tiny_models import build_tiny_sd

    sd = build_tiny_sd(tmp_path / "sd")
    a = load("sd3")(pretrained=str(sd), resolution=32, num_inference_steps=1)
    img = a.generate_images([GenRequest("a", "a face", seed=1, width=48, height=40)])[0][0]
    assert img.size == (48, 40) and a.info()["native_size"] == [32, 32] and a.info()["guidance_scale"] == 7.0


def test_dalle3_through_stub_server():
    from openai_stub_server import StubOpenAIServer

    with StubOpenAIServer() as srv:
        a = load("dall-e-3")(base_url=srv.base_url, retry_base_delay=0.01)
        out = a.generate_images([GenRequest("a", "a smiling woman", n=2, width=32, height=32)])
        bodies = [b for _, b, _ in srv.requests]
    assert [im.size for im in out[0]] == [(32, 32), (32, 32)]
    assert all(b["model"] == "dall-e-3" and b["quality"] == "standard" and b["n"] == 1 for b in bodies)
    assert a.capabilities == frozenset({"generate"})


# ------------------------------------------------------------------------- research-code baselines
FAKE_SHOWO = {
    "models/__init__.py": '''
import torch
CALLS = []
def get_mask_chedule(name, **kw):
    CALLS.append(("schedule", name))
    return lambda r: 1 - r
class _Config:
    mask_token_id = 4095
class Showo(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.config = _Config()
        self.w = torch.nn.Parameter(torch.ones(()))
    @classmethod
    def from_pretrained(cls, path):
        CALLS.append(("showo", str(path)))
        return cls()
    def t2i_generate(self, input_ids=None, uncond_input_ids=None, attention_mask=None, temperature=1.0,
                     timesteps=18, guidance_scale=0, noise_schedule=None, generator=None, config=None, **kw):
        CALLS.append(("t2i", dict(rows=input_ids.shape[0], uncond=uncond_input_ids is not None,
                                  guidance_scale=guidance_scale, timesteps=timesteps, temperature=temperature,
                                  seq_len=kw["seq_len"], mask_rows=attention_mask.shape[0])))
        n = config.model.showo.num_vq_tokens
        shift = int(input_ids[:, : config.dataset.preprocessing.max_seq_length].sum()) % 97
        return (torch.randint(0, 150, (input_ids.shape[0], n), generator=generator) + shift) * 50
    def mmu_generate(self, idx=None, input_embeddings=None, attention_mask=None, max_new_tokens=100,
                     temperature=1.0, top_k=None, eot_token=None):
        CALLS.append(("mmu", dict(max_new_tokens=max_new_tokens, top_k=top_k, eot=eot_token)))
        sot = (idx[0] == 60009).nonzero()[0, 0]
        return [t for t in idx[0, sot + 1:]]
class MAGVITv2(torch.nn.Module):
    @classmethod
    def from_pretrained(cls, path):
        CALLS.append(("vq", str(path)))
        return cls()
    def decode_code(self, codes):
        b, n = codes.shape
        side = int(n ** 0.5)
        x = (codes.float() / 8191.0) * 2 - 1
        x = x.reshape(b, 1, side, side).repeat(1, 3, 1, 1)
        return torch.nn.functional.interpolate(x, scale_factor=16, mode="nearest")
    def get_code(self, x):
        CALLS.append(("get_code", tuple(x.shape)))
        side = x.shape[-1] // 16
        pooled = torch.nn.functional.avg_pool2d(x.mean(1, keepdim=True), 16)
        return ((pooled + 1) * 100).long().reshape(x.shape[0], side * side)
''',
    "training/__init__.py": "",
    "training/prompting_utils.py": '''
import torch
SPECIAL = ["<|soi|>", "<|eoi|>", "<|sov|>", "<|eov|>", "<|t2i|>", "<|mmu|>", "<|t2v|>", "<|v2v|>", "<|lvg|>",
           "<|sot|>", "<|eot|>", "<|pad|>"]
class UniversalPrompting:
    def __init__(self, text_tokenizer, special_tokens, max_text_len, ignore_id=-100, cond_dropout_prob=0.1):
        assert tuple(special_tokens) == tuple(SPECIAL[:9])
        self.text_tokenizer = text_tokenizer
        self.max_text_len = max_text_len
        self.sptids_dict = {t: 60000 + i for i, t in enumerate(SPECIAL)}
    def __call__(self, inputs, task):
        assert task == "t2i_gen"
        texts, image_tokens = inputs
        rows = []
        for t in texts:
            ids = self.text_tokenizer(t)["input_ids"][: self.max_text_len - 1]
            pad = [self.sptids_dict["<|pad|>"]] * (self.max_text_len - 1 - len(ids))
            rows.append([self.sptids_dict["<|t2i|>"]] + pad + ids + [self.sptids_dict["<|soi|>"]])
        text = torch.tensor(rows, device=image_tokens.device)
        eoi = torch.full((len(texts), 1), self.sptids_dict["<|eoi|>"], device=image_tokens.device)
        return torch.cat([text, image_tokens, eoi], dim=1), None
def create_attention_mask_predict_next(sequence, pad_id=0, soi_id=0, eoi_id=0, rm_pad_in_image=False):
    return torch.zeros(sequence.shape[0], 1, sequence.shape[1], sequence.shape[1])
def create_attention_mask_for_mmu(sequence, eoi_id=0):
    return torch.zeros(sequence.shape[0], 1, sequence.shape[1], sequence.shape[1])
''',
}


@pytest.mark.parametrize("family", ["show-o", "unif2ace"])
def test_showo_family_plumbing(family, tmp_path, tiny_tok, face, clean_imports):
    code = _write(tmp_path / "showo_code", FAKE_SHOWO)
    a = load(family)(pretrained=str(tmp_path / "ckpt"), code_path=str(code), llm_model=str(tiny_tok),
                     resolution=64, vq_model="local/vq")
    reqs = [GenRequest("a", "a smiling young woman", n=2, seed=5, width=48, height=48),
            GenRequest("b", "an old man", n=1, seed=5, width=64, height=64)]
    out = a.generate_images(reqs)
    calls = sys.modules["models"].CALLS
    t2i = [c[1] for c in calls if c[0] == "t2i"]
    assert len(t2i) == 3  # one call per image, each with its own generator
    assert t2i[0] == dict(rows=1, uncond=True, guidance_scale=5.0, timesteps=50, temperature=1.0, seq_len=16,
                          mask_rows=2)
    assert ("schedule", "cosine") in calls and ("vq", "local/vq") in calls
    assert ("showo", str(tmp_path / "ckpt")) in calls
    assert out[0][0].size == (48, 48) and out[1][0].size == (64, 64)
    assert np.abs(_a(out[0][0]) - _a(out[0][1])).max() > 0
    again = a.generate_images(list(reversed(reqs)))[::-1]
    assert all(x.tobytes() == y.tobytes() for x, y in zip(sum(out, []), sum(again, [])))
    assert a.generate_images([GenRequest("a", "a smiling young woman", seed=6, width=48, height=48)])[0][0].tobytes() \
        == out[0][1].tobytes()
    a.generate_images([GenRequest("a", "x", seed=1, width=8, height=8, params={"guidance_scale": 0})])
    assert [c[1] for c in calls if c[0] == "t2i"][-1]["uncond"] is False
    # understanding: image → 16 MAGVIT tokens, prompt 'USER: \n{q} ASSISTANT:' after <|sot|>, greedy top_k=1
    ans = a.answer([_q(face)])
    assert ans == ["USER: \nIs she smiling? ASSISTANT:"]
    assert ("get_code", (1, 3, 64, 64)) in calls
    assert [c[1] for c in calls if c[0] == "mmu"][-1] == dict(max_new_tokens=100, top_k=1, eot=60010)
    assert a.info()["family"] == ("Show-o" if family == "show-o" else "UniF²ace")


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
    def to(self, *a, **k):
        return self
class VLChatProcessor:
    sft_format, image_gen_tag, pad_id = "deepseek", "<begin_of_image>", 0
    def __init__(self):
        self.tokenizer = _Tok()
    @classmethod
    def from_pretrained(cls, path):
        CALLS.append(("proc", str(path)))
        return cls()
    def apply_sft_template_for_multi_turn_prompts(self, conversations, sft_format, system_prompt):
        CALLS.append(("sft", sft_format, system_prompt))
        return "".join(f"<|{c['role']}|>: {c['content']}\\n" for c in conversations)
    def __call__(self, conversations, images, force_batchify):
        CALLS.append(("und", conversations, [im.size for im in images]))
        ids = torch.tensor([self.tokenizer.encode(conversations[0]["content"])])
        return _Batch(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=torch.zeros(1, 1, 3, 8, 8))
class _Inner(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.lin = nn.Linear(d, d)
    def forward(self, inputs_embeds, attention_mask=None, use_cache=False, past_key_values=None):
        CALLS.append(("llm", tuple(inputs_embeds.shape), tuple(attention_mask.shape)))
        return types.SimpleNamespace(last_hidden_state=self.lin(inputs_embeds) + inputs_embeds.mean(1, keepdim=True))
class _LM(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.emb = nn.Embedding(100, d)
        self.model = _Inner(d)
    def get_input_embeddings(self):
        return self.emb
    def generate(self, inputs_embeds, attention_mask, max_new_tokens, do_sample, **kw):
        CALLS.append(("generate", max_new_tokens, do_sample))
        return torch.arange(3, 8).unsqueeze(0)
class _Enc(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.conv = nn.Conv2d(4, 6, 2, stride=2)
        self.t = nn.Linear(1, d)
    def forward(self, z, t):
        return self.conv(z), self.t(t[:, None] / 1000.0), [z]
class _Dec(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose2d(5, 4, 2, stride=2)
    def forward(self, x, hs, t_emb):
        return self.up(x) * 0.1 - hs[0] * 0.05
class MultiModalityCausalLM(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        d = 8
        self.language_model = _LM(d)
        self.vision_gen_enc_model = _Enc(d)
        self.vision_gen_enc_aligner = nn.Linear(6, d)
        self.vision_gen_dec_aligner_norm = nn.LayerNorm(d)
        self.vision_gen_dec_aligner = nn.Linear(d, 5)
        self.vision_gen_dec_model = _Dec()
    @classmethod
    def from_pretrained(cls, path):
        CALLS.append(("model", str(path)))
        return cls()
    def prepare_inputs_embeds(self, input_ids, attention_mask, pixel_values, **kw):
        return self.language_model.emb(input_ids % 100)
''',
}


def test_janusflow_plumbing(tmp_path, face, clean_imports):
    pytest.importorskip("diffusers")
    from diffusers import AutoencoderKL

    vae_dir = tmp_path / "vae"
    AutoencoderKL(block_out_channels=(32, 32), in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1,
                  down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                  norm_num_groups=32, sample_size=16).save_pretrained(vae_dir)
    code = _write(tmp_path / "janus_code", FAKE_JANUSFLOW)
    a = load("janusflow")(pretrained=str(tmp_path / "ckpt"), code_path=str(code), vae=str(vae_dir), resolution=64,
                          num_inference_steps=3)
    out = a.generate_images([GenRequest("a", "a woman", n=2, seed=9, width=20, height=20)])[0]
    calls = sys.modules["janus.janusflow.models"].CALLS
    llm = [c for c in calls if c[0] == "llm"]
    assert len(llm) == 6  # 3 ODE steps per image, CFG rows batched (2 rows)
    assert llm[0][1][0] == 2 and llm[0][1][1] == llm[0][2][1]  # attention mask covers prefix + t_emb + 16 latents
    assert ("sft", "deepseek", "") in calls
    assert [im.size for im in out] == [(20, 20), (20, 20)] and np.abs(_a(out[0]) - _a(out[1])).max() > 0
    alone = a.generate_images([GenRequest("a", "a woman", seed=10, width=20, height=20)])[0][0]
    assert alone.tobytes() == out[1].tobytes()
    ans = a.answer([_q(face)])
    assert ans == ["defgh"]
    und = [c for c in calls if c[0] == "und"][-1]
    assert und[1][0]["content"] == "<image_placeholder>\nIs she smiling?" and und[2] == [(30, 40)]
    assert [c for c in calls if c[0] == "generate"][-1] == ("generate", 512, False)


FAKE_VILAU = {"vila_u/__init__.py": '''
import torch
from PIL import Image as _PIL
CALLS = []
class Image:
    def __init__(self, path):
        self.size = _PIL.open(path).size
class _GC:
    max_new_tokens, do_sample = 10, True
class _Model:
    default_generation_config = _GC()
    def generate_image_content(self, prompt, cfg, n):
        CALLS.append(("gen", prompt, cfg, n))
        return torch.randint(0, 256, (n, 3, 16, 16)).float()
    def generate_content(self, parts, generation_config=None):
        CALLS.append(("und", [type(p).__name__ for p in parts], generation_config.max_new_tokens,
                      generation_config.do_sample))
        return f"{parts[-1]} | {parts[0].size[0]}x{parts[0].size[1]}"
def load(path):
    CALLS.append(("load", str(path)))
    return _Model()
'''}


def test_vila_u_plumbing(tmp_path, face, clean_imports):
    code = _write(tmp_path / "vilau_code", FAKE_VILAU)
    a = load("vila-u")(pretrained="mit-han-lab/vila-u-7b-256", code_path=str(code))
    fp = a.fingerprint()
    assert a.info()["code"].startswith("file:")  # no git checkout: the code is identified by its file hash
    out = a.generate_images([GenRequest("a", "a man", n=2, seed=3, width=32, height=32)])[0]
    again = a.generate_images([GenRequest("a", "a man", n=2, seed=3, width=32, height=32)])[0]
    assert [x.tobytes() for x in out] == [x.tobytes() for x in again] and out[0].tobytes() != out[1].tobytes()
    calls = sys.modules["vila_u"].CALLS
    assert ("gen", "a man", 3.0, 1) in calls and ("load", "mit-han-lab/vila-u-7b-256") in calls
    assert a.answer([_q(face)]) == ["Is she smiling? | 30x40"]
    assert calls[-1] == ("und", ["Image", "str"], 256, False)
    assert a.fingerprint() == fp  # loading does not change the identity used in cache keys
    (code / "vila_u" / "__init__.py").write_text(FAKE_VILAU["vila_u/__init__.py"] + "# changed\n")
    assert load("vila-u")(pretrained="mit-han-lab/vila-u-7b-256", code_path=str(code)).fingerprint() != fp


FAKE_LLAVA = {
    "llava/__init__.py": "",
    "llava/constants.py": "IMAGE_TOKEN_INDEX = -200\nDEFAULT_IMAGE_TOKEN = '<image>'\n",
    "llava/conversation.py": '''
class Conversation:
    def __init__(self, roles, sep):
        self.roles, self.sep, self.messages = roles, sep, []
    def copy(self):
        return Conversation(self.roles, self.sep)
    def append_message(self, role, msg):
        self.messages.append((role, msg))
    def get_prompt(self):
        return self.sep.join(f"{r}: {m}" if m is not None else f"{r}:" for r, m in self.messages)
conv_templates = {"vicuna_v1": Conversation(("USER", "ASSISTANT"), " "),
                  "qwen_2": Conversation(("<|im_start|>user", "<|im_start|>assistant"), "\\n")}
''',
    "llava/model/__init__.py": "",
    "llava/model/builder.py": '''
CALLS = []
class _Model:
    config = None
    def to(self, *a, **k):
        return self
    def eval(self):
        return self
    def generate(self, input_ids, do_sample, max_new_tokens, use_cache, images=None, image_sizes=None):
        CALLS.append(dict(images_is_list=isinstance(images, list), image_sizes=image_sizes, do_sample=do_sample,
                          max_new_tokens=max_new_tokens, n_image_tokens=int((input_ids == -200).sum())))
        return input_ids[:, input_ids[0] != -200]
def load_pretrained_model(model_path, model_base, model_name, **kw):
    from transformers import AutoTokenizer
    CALLS.append(dict(load=str(model_path), name=model_name))
    return AutoTokenizer.from_pretrained(model_path), _Model(), "image-processor", 2048
''',
    "llava/mm_utils.py": '''
import torch
def get_model_name_from_path(p):
    return str(p).rstrip("/").split("/")[-1]
def tokenizer_image_token(prompt, tokenizer, image_token_index, return_tensors=None):
    ids = []
    for i, chunk in enumerate(prompt.split("<image>")):
        if i:
            ids.append(image_token_index)
        ids.extend(tokenizer(chunk, add_special_tokens=False)["input_ids"])
    return torch.tensor(ids)
def process_images(images, image_processor, config):
    assert image_processor == "image-processor"
    return torch.zeros(len(images), 3, 8, 8)
''',
}


def test_vila15_plumbing(tmp_path, tiny_tok, face, clean_imports):
    code = _write(tmp_path / "vila_code", FAKE_LLAVA)
    a = load("vila-1.5")(pretrained=str(tiny_tok), code_path=str(code))
    assert a.answer([_q(face, max_new_tokens=9)]) == ["USER: \nIs she smiling? ASSISTANT:"]
    call = sys.modules["llava.model.builder"].CALLS[-1]
    assert call == dict(images_is_list=True, image_sizes=None, do_sample=False, max_new_tokens=9, n_image_tokens=1)
    with pytest.raises(FacebenchError, match="cannot generate"):
        a.generate_images([GenRequest("a", "x")])


FAKE_TOKENFLOW_T2I = {
    "t2i/llava_t2i/__init__.py": "",
    "t2i/llava_t2i/model/__init__.py": '''
import torch
CALLS = []
class _Cfg:
    tokenizer_model_max_length, mm_vision_vq_type, use_cache = 256, "TOKENFLOW", True
class _VT:
    def to(self, *a, **k):
        return self
class LlavaLlamaForCausalLM:
    def __init__(self):
        self.config = _Cfg()
    @classmethod
    def from_pretrained(cls, path, attn_implementation=None, mm_vision_tower=None):
        CALLS.append(("load", str(path), attn_implementation, str(mm_vision_tower)))
        return cls()
    def eval(self):
        return self
    def to(self, *a, **k):
        return self
    def get_vision_tower(self):
        return _VT()
    def reinit_image_token_start_end(self, tok):
        CALLS.append(("reinit",))
    def autoregressive_infer_cfg(self, B, prefix_text_codes, cfg, topk_list, topp_list, g_seed):
        CALLS.append(("infer", B, len(prefix_text_codes), cfg, list(topk_list), list(topp_list), g_seed))
        g = torch.Generator().manual_seed(g_seed)
        return [torch.randint(0, 256, (16, 16, 3), generator=g) for _ in range(B)]
''',
    "t2i/llava_t2i/dataset/__init__.py": "",
    "t2i/llava_t2i/dataset/process.py": '''
def crop_and_encode_text_and_img(tokenizer, text, image=None, max_text_token_num=128):
    ids = tokenizer(text)["input_ids"][:max_text_token_num]
    return ids, len(ids)
''',
}


def test_tokenflow_plumbing(tmp_path, tiny_tok, face, clean_imports):
    files = dict(FAKE_TOKENFLOW_T2I)
    files.update({f"i2t/{k}": v for k, v in FAKE_LLAVA.items()})
    code = _write(tmp_path / "tokenflow_code", files)
    vq = tmp_path / "tokenflow_clipb_32k_enhanced.pt"
    vq.write_bytes(b"fake")
    a = load("tokenflow")(pretrained=str(tiny_tok), tokenizer_path=str(vq), und_pretrained=str(tiny_tok),
                          code_path=str(code))
    out = a.generate_images([GenRequest("a", "a woman", n=2, seed=7, width=24, height=24)])[0]
    calls = sys.modules["llava_t2i.model"].CALLS
    assert ("load", str(tiny_tok), "eager", str(vq)) in calls and ("reinit",) in calls
    infer = [c for c in calls if c[0] == "infer"]
    assert infer == [("infer", 1, 2, 7.5, [600], [0.6], 7), ("infer", 1, 2, 7.5, [600], [0.6], 8)]
    assert out[0].size == (24, 24) and out[0].tobytes() != out[1].tobytes()
    ans = a.answer([_q(face)])
    assert ans == ["<|im_start|>user: \nIs she smiling?\n<|im_start|>assistant:"]
    call = sys.modules["llava.model.builder"].CALLS[-1]
    assert call["images_is_list"] is False and call["image_sizes"] == [(30, 40)] and call["do_sample"] is False


FAKE_OMNIFLOW = {"omniflow/__init__.py": '''
import torch
from PIL import Image
CALLS = []
class OmniFlowPipeline:
    @classmethod
    def load_pretrained(cls, path, device="cuda", **kw):
        CALLS.append(("load", str(path), str(device)))
        return cls()
    def __call__(self, prompt, task="t2i", input_img=None, **kw):
        CALLS.append((task, prompt, kw))
        if task == "t2i":
            return [[Image.fromarray(torch.randint(0, 256, (24, 24, 3), dtype=torch.uint8).numpy())]]
        return [[f"a caption of a {input_img.size[0]}x{input_img.size[1]} face"]]
'''}


def test_omniflow_plumbing(tmp_path, face, clean_imports):
    code = _write(tmp_path / "omni_code", FAKE_OMNIFLOW)
    a = load("omniflow")(code_path=str(code))
    out = a.generate_images([GenRequest("a", "a woman", n=2, seed=1, width=32, height=32)])[0]
    assert out[0].size == (32, 32) and out[0].tobytes() != out[1].tobytes()
    alone = a.generate_images([GenRequest("a", "a woman", seed=2, width=32, height=32)])[0][0]
    assert alone.tobytes() == out[1].tobytes()
    calls = sys.modules["omniflow"].CALLS
    assert calls[0] == ("load", "jacklishufan/OmniFlow-v0.5", "cpu")
    assert calls[1][0] == "t2i"
    assert calls[1][2] == {"num_inference_steps": 28, "guidance_scale": 7.0, "add_token_embed": True}
    assert a.answer([_q(face)]) == ["a caption of a 30x40 face"]
    assert calls[-1][0] == "i2t" and calls[-1][2]["num_inference_steps"] == 100 and calls[-1][2]["use_text_output"]


FAKE_LLAMAGEN = {
    "tokenizer/__init__.py": "",
    "tokenizer/tokenizer_image/__init__.py": "",
    "tokenizer/tokenizer_image/vq_model.py": '''
import torch
import torch.nn as nn
class _VQ(nn.Module):
    def __init__(self, codebook_size, codebook_embed_dim):
        super().__init__()
        self.cs = codebook_size
    def decode_code(self, codes, shape):
        b, d, h, w = shape
        x = codes.float().reshape(b, 1, h, w) / (self.cs - 1) * 2 - 1
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
    def __init__(self, block_size, cls_token_num, model_type):
        super().__init__()
        CALLS.append((block_size, cls_token_num, model_type))
        self.w = nn.Parameter(torch.zeros(1))
GPT_models = {"GPT-XL": lambda **kw: _GPT(**kw)}
''',
    "autoregressive/models/generate.py": '''
import torch
CALLS = []
def generate(model, cond, max_new_tokens, emb_masks=None, cfg_scale=1.0, temperature=1.0, top_k=0, top_p=1.0,
             sample_logits=True):
    CALLS.append(dict(shape=tuple(cond.shape), n=max_new_tokens, cfg=cfg_scale, top_k=top_k, top_p=top_p,
                      temperature=temperature, mask_first=float(emb_masks[0, 0]), mask_last=float(emb_masks[0, -1])))
    return torch.randint(0, 16384, (cond.shape[0], max_new_tokens))
''',
    "language/__init__.py": "",
    "language/t5.py": '''
import torch
CALLS = []
class T5Embedder:
    def __init__(self, device, local_cache, cache_dir, dir_or_name, torch_dtype, model_max_length):
        CALLS.append((str(cache_dir), dir_or_name, model_max_length))
        self.n = model_max_length
    def get_text_embeddings(self, texts):
        k = min(len(texts[0].split()), self.n)
        emb, mask = torch.ones(1, self.n, 4), torch.zeros(1, self.n)
        mask[0, :k] = 1
        return emb, mask
''',
}


def test_llamagen_plumbing(tmp_path, clean_imports):
    import torch

    code = _write(tmp_path / "llamagen_code", FAKE_LLAMAGEN)
    for f in ("gpt.pt", "vq.pt"):
        torch.save({"model": {}}, tmp_path / f)
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
    assert gen == dict(shape=(1, 120, 4), n=16, cfg=7.5, top_k=1000, top_p=1.0, temperature=1.0,
                       mask_first=0.0, mask_last=1.0)  # left-padded T5 condition, sample_t2i.py defaults
    assert sys.modules["autoregressive.models.gpt"].CALLS == [(16, 120, "t2i")]
    assert a.weights_revision().count("local:") == 2
    with pytest.raises(FacebenchError, match="cannot answer"):
        a.answer([_q(None)])
