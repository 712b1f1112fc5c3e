"""Stand-in research packages for the VILA1.5, VILA-U and TokenFlow plugins (written into a temp folder
and imported through ``code_path=``), for the plumbing checks that must run without the upstream
code. Each stand-in accepts exactly what the pinned upstream accepts — the same argument names and
order, the same dtype rule for pixels — so a plugin that would fail on the real code fails here too;
tests/test_upstream_und.py runs the same plugins on the real code."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from facebench.errors import FacebenchError
from facebench.types import ChatRequest, GenRequest
from tests.helpers import write_files as _write
from tests.test_baselines import load


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    pytest.importorskip("torch")
    from tiny_models import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture()
def face(tmp_path):
    from PIL import Image

    arr = np.random.default_rng(0).integers(0, 256, size=(40, 30, 3), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "face.png")
    return tmp_path / "face.png"


@pytest.fixture(scope="module")
def tiny_tok(tmp_path_factory):
    from tiny_models import build_tiny_tokenizer

    return build_tiny_tokenizer(tmp_path_factory.mktemp("tok") / "tok")


def _q(image, text="Is she smiling?", **params):
    return ChatRequest("d0", image, ({"role": "user", "content": text},), params)


# A LLaVA-style ``llava`` package. Signatures follow the pinned upstream code: the builder's argument
# order differs between VILA and LLaVA/TokenFlow (filled in below), the model is float16 as both
# builders load it, and pixels of another dtype fail as they do in upstream's projector.
LLAVA_COMMON = {
    "llava/__init__.py": "",
    "llava/constants.py": ("IMAGE_TOKEN_INDEX = -200\nDEFAULT_IMAGE_TOKEN = '<image>'\n"
                           "DEFAULT_IM_START_TOKEN = '<im_start>'\nDEFAULT_IM_END_TOKEN = '<im_end>'\n"),
    "llava/conversation.py": '''
from enum import Enum, auto
class SeparatorStyle(Enum):
    SINGLE = auto()
    TWO = auto()
class Conversation:
    def __init__(self, system, roles, sep_style, sep, sep2=None):
        self.system, self.roles, self.sep_style, self.sep, self.sep2 = system, roles, sep_style, sep, sep2
        self.messages = []
    def copy(self):
        return Conversation(self.system, self.roles, self.sep_style, self.sep, self.sep2)
    def append_message(self, role, msg):
        self.messages.append([role, msg])
    def get_prompt(self):
        seps = [self.sep, self.sep2] if self.sep_style == SeparatorStyle.TWO else [self.sep, self.sep]
        out = self.system + seps[0]
        for i, (r, m) in enumerate(self.messages):
            out += f"{r}: {m}{seps[i % 2]}" if m is not None else f"{r}:"
        return out
conv_templates = {
    "vicuna_v1": Conversation("A chat.", ("USER", "ASSISTANT"), SeparatorStyle.TWO, " ", "</s>"),
    "qwen_2_5": Conversation("<|im_start|>system\\nYou are helpful.", ("<|im_start|>user", "<|im_start|>assistant"),
                             SeparatorStyle.SINGLE, "<|im_end|>\\n"),
}
''',
    "llava/model/__init__.py": "",
    "llava/mm_utils.py": '''
import torch
CALLS = []
def get_model_name_from_path(p):
    return str(p).rstrip("/").split("/")[-1]
def tokenizer_image_token(prompt, tokenizer, image_token_index=-200, return_tensors=None):
    ids = []
    for i, chunk in enumerate(prompt.split("<image>")):
        if i:
            ids.append(image_token_index)
        ids.extend(tokenizer(chunk, add_special_tokens=False)["input_ids"])
    return torch.tensor(ids, dtype=torch.long)
def process_images(images, image_processor, model_cfg):
    assert image_processor == "image-processor"
    CALLS.append(("process_images", [im.size for im in images]))
    return torch.stack([torch.zeros(3, 8, 8) for _ in images])  # float32, as upstream returns
class KeywordsStoppingCriteria:
    def __init__(self, keywords, tokenizer, input_ids):
        self.keywords = keywords
        CALLS.append(("stop", list(keywords)))
''',
}

MODEL_STANDIN = '''
import torch
CALLS = []
class _Config:
    mm_use_im_start_end = False
class _Model:
    config = _Config()
    dtype = torch.float16
    def eval(self):
        return self
    def _check_pixels(self, images):
        pix = torch.cat(images, dim=0) if isinstance(images, list) else images
        if pix.dtype != self.dtype:  # upstream: the projector's weights are float16
            raise RuntimeError(f"Input type ({pix.dtype}) and bias type ({self.dtype}) should be the same")
        return pix
'''

VILA_BUILDER = MODEL_STANDIN + '''
class VilaModel(_Model):
    def generate(self, input_ids=None, images=None, attention_mask=None, **generation_kwargs):
        pix = self._check_pixels(images) if images is not None else None
        CALLS.append(dict(images_is_list=isinstance(images, list), pixels=tuple(pix.shape),
                          n_image_tokens=int((input_ids == -200).sum()), **generation_kwargs))
        return input_ids[:, input_ids[0] != -200]  # "generates" the prompt back
def load_pretrained_model(model_path, model_name, model_base=None, load_8bit=False, load_4bit=False,
                          device_map="auto", device="cuda", **kwargs):
    from transformers import AutoTokenizer
    if "lora" in model_name.lower() and model_base is None:  # VILA builder.py:70: model_name is a str
        pass
    CALLS.append(dict(load=str(model_path), name=model_name, base=model_base, device=device))
    return AutoTokenizer.from_pretrained(model_path), VilaModel(), "image-processor", 2048
'''


def test_vila15_plumbing(tmp_path, tiny_tok, face, clean_imports):
    files = dict(LLAVA_COMMON, **{"llava/model/builder.py": VILA_BUILDER})
    code = _write(tmp_path / "vila_code", files)
    a = load("vila-1.5")(pretrained=str(tiny_tok), code_path=str(code))
    assert a.answer([_q(face, max_new_tokens=9)]) == ["A chat. USER: \nIs she smiling? ASSISTANT:"]
    builder = sys.modules["llava.model.builder"]
    assert builder.CALLS[0] == dict(load=str(tiny_tok), name="tok", base=None, device="cpu")
    gen = builder.CALLS[-1]
    assert gen["images_is_list"] and gen["pixels"] == (1, 3, 8, 8) and gen["n_image_tokens"] == 1
    assert (gen["do_sample"], gen["temperature"], gen["num_beams"], gen["max_new_tokens"]) == (False, 0.0, 1, 9)
    assert len(gen["stopping_criteria"]) == 1 and ("stop", ["</s>"]) in sys.modules["llava.mm_utils"].CALLS
    assert ("process_images", [(30, 40)]) in sys.modules["llava.mm_utils"].CALLS
    assert a.info()["dtype"] == "float16"
    with pytest.raises(FacebenchError, match="cannot generate"):
        a.generate_images([GenRequest("a", "x")])


def test_vila15_rejects_an_unknown_conversation_template(tmp_path, tiny_tok, face, clean_imports):
    files = dict(LLAVA_COMMON, **{"llava/model/builder.py": VILA_BUILDER})
    code = _write(tmp_path / "vila_code", files)
    a = load("vila-1.5")(pretrained=str(tiny_tok), code_path=str(code), conv_mode="nope")
    with pytest.raises(FacebenchError, match="conv_mode 'nope'.*vicuna_v1"):
        a.answer([_q(face)])


# ------------------------------------------------------------------------- flash-attn CPU reference
def test_flash_attn_reference_matches_torch_sdpa():
    """The placeholder's kernels (used only where flash-attn is not installed) against torch's own
    scaled_dot_product_attention: full causal attention, one decoding step attending to every cached
    key (flash-attn 2.1+ aligns the causal mask bottom-right), grouped KV heads, packed variable-length
    sequences, and the unpad/pad round trip used around them."""
    import torch
    import torch.nn.functional as F

    from facebench_baselines._upstream_shims import _REFERENCE as R

    g = torch.Generator().manual_seed(0)
    b, s, h, hk, d = 2, 7, 4, 2, 8
    q, k, v = (torch.randn(b, s, n, d, generator=g) for n in (h, hk, hk))

    def sdpa(q, k, v, causal):  # (B, S, H, D) layout → torch's (B, H, S, D)
        k, v = k.repeat_interleave(h // k.shape[2], 2), v.repeat_interleave(h // v.shape[2], 2)
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=causal)
        return out.transpose(1, 2)

    for causal in (False, True):
        assert torch.allclose(R["flash_attn_func"](q, k, v, 0.0, causal=causal), sdpa(q, k, v, causal), atol=1e-5)
    step = R["flash_attn_func"](q[:, -1:], k, v, 0.0, causal=True)  # last query sees all 7 keys
    assert torch.allclose(step, sdpa(q, k, v, True)[:, -1:], atol=1e-5)
    assert torch.allclose(R["flash_attn_func"](q, k, v, 0.0, softmax_scale=0.5),
                          sdpa(q * 0.5 * d ** 0.5, k, v, False), atol=1e-5)

    mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1]])  # left padding, as in batched prompts
    qu, idx, cu, mx = R["unpad_input"](q, mask)
    assert qu.shape == (12, h, d) and cu.tolist() == [0, 5, 12] and mx == 7 and cu.dtype == torch.int32
    ku, vu = R["index_first_axis"](k.reshape(b * s, hk, d), idx), R["index_first_axis"](v.reshape(b * s, hk, d), idx)
    out = R["pad_input"](R["flash_attn_varlen_func"](qu, ku, vu, cu, cu, mx, mx, 0.0, causal=True), idx, b, s)
    assert torch.allclose(out[0, 2:], sdpa(q[:1, 2:], k[:1, 2:], v[:1, 2:], True)[0], atol=1e-5)
    assert torch.allclose(out[1], sdpa(q[1:], k[1:], v[1:], True)[0], atol=1e-5)
    assert float(out[0, :2].abs().sum()) == 0.0  # padded rows stay zero
    with pytest.raises(NotImplementedError, match="dropout"):
        R["flash_attn_func"](q, k, v, 0.1)


# ------------------------------------------------------------------------------------------ VILA-U
# vila-u@096623c's API: vila_u.load(model_path, devices=None, **kwargs) → load_pretrained_model(model_path,
# model_dtype=torch.bfloat16, device_map="auto", device="cuda"); generate_content / generate_image_content
# call tensor.cuda() themselves (vila_u_arch.py:604,619-628), which the stand-in mimics by requiring
# tensors to come back on the model's device.
FAKE_VILAU = {
    "vila_u/__init__.py": '''
import copy
import torch
from PIL import Image as _PIL
from . import conversation
CALLS = []
class Image:
    def __init__(self, path):
        self.path = path
class _GC:
    def __init__(self):
        self.max_new_tokens, self.do_sample, self.temperature, self.top_p, self.num_beams = 20, True, 0.6, 0.9, 1
    def update(self, **kw):
        unused = {k: v for k, v in kw.items() if not hasattr(self, k)}
        for k, v in kw.items():
            if hasattr(self, k):
                setattr(self, k, v)
        return unused
class _Model:
    def __init__(self, device, dtype):
        self.device, self.dtype = torch.device(device), dtype
    @property
    def default_generation_config(self):
        return copy.deepcopy(_GC())
    def _on_device(self, t):
        moved = t.cuda()  # upstream hard-codes .cuda()
        assert moved.device == self.device, (moved.device, self.device)
        return moved
    def generate_image_content(self, prompt, cfg=3.0, generation_nums=1):
        self._on_device(torch.zeros(2))
        CALLS.append(("gen", prompt, cfg, generation_nums, conversation.default_conversation.name))
        return torch.randint(0, 256, (generation_nums, 3, 16, 16)).float()
    def generate_content(self, prompt, generation_config=None):
        self._on_device(torch.zeros(2))
        image = [p for p in prompt if isinstance(p, (Image, _PIL.Image))][0]
        size = image.size if isinstance(image, _PIL.Image) else _PIL.open(image.path).size
        g = generation_config
        CALLS.append(("und", [type(p).__name__ for p in prompt], g.max_new_tokens, g.do_sample, g.temperature,
                      conversation.default_conversation.name))
        return f"{prompt[-1]} | {size[0]}x{size[1]}"
def load(model_path, devices=None, **kwargs):
    conversation.default_conversation = conversation.conv_templates["v0"]  # auto_set_conversation_mode
    return _load_pretrained_model(model_path, **kwargs)
def _load_pretrained_model(model_path, model_dtype=torch.bfloat16, device_map="auto", device="cuda", **kwargs):
    CALLS.append(("load", str(model_path), str(model_dtype), device))
    return _Model(device, model_dtype)
''',
    "vila_u/conversation.py": '''
class Conversation:
    def __init__(self, name):
        self.name = name
    def copy(self):
        return Conversation(self.name)
conv_templates = {"vicuna_v1": Conversation("vicuna_v1"), "v0": Conversation("v0")}
default_conversation = conv_templates["vicuna_v1"]
''',
}


def test_vila_u_plumbing(tmp_path, face, clean_imports):
    code = _write(tmp_path / "vilau_code", FAKE_VILAU)
    a = load("vila-u")(pretrained="mit-han-lab/vila-u-7b-256", code_path=str(code))
    fp = a.fingerprint()
    assert a.info()["code"].startswith("file:")  # no git checkout: the code is identified by its file hash
    out = a.generate_images([GenRequest("a", "a man", n=2, seed=3, width=32, height=32)])[0]
    again = a.generate_images([GenRequest("a", "a man", n=2, seed=3, width=32, height=32)])[0]
    assert [x.tobytes() for x in out] == [x.tobytes() for x in again] and out[0].tobytes() != out[1].tobytes()
    calls = sys.modules["vila_u"].CALLS
    assert ("load", "mit-han-lab/vila-u-7b-256", "torch.bfloat16", "cpu") in calls  # bfloat16 even on CPU
    assert ("gen", "a man", 3.0, 1, "vicuna_v1") in calls
    assert a.answer([_q(face)]) == ["Is she smiling? | 30x40"]
    assert calls[-1] == ("und", ["Image", "str"], 4096, False, 0.0, "vicuna_v1")  # PIL image, greedy
    assert a.answer([_q(face, max_new_tokens=7)]) and calls[-1][2] == 7
    assert a.fingerprint() == fp  # loading does not change the identity used in cache keys
    (code / "vila_u" / "__init__.py").write_text(FAKE_VILAU["vila_u/__init__.py"] + "# changed\n")
    assert load("vila-u")(pretrained="mit-han-lab/vila-u-7b-256", code_path=str(code)).fingerprint() != fp


# ---------------------------------------------------------------------------------------- TokenFlow
# TokenFlow@9812da0: t2i/llava_t2i (generation; its modeling_llama.py:51-56 calls exit() at import
# unless transformers is exactly 4.43.4, and llava_t2i/__init__.py imports the model) and i2t/llava
# (understanding; LLaVA's builder order (model_path, model_base, model_name, ..., device="cuda",
# overwrite_config=None, **kwargs) with kwargs going to from_pretrained, and a VQTower that asserts its
# tokenizer file exists locally, vision_tokenizer.py:142).
T2I_VERSION_CHECK = '''
from importlib.metadata import version
if version("transformers") != "{required}":
    print("transformers version is not {required}, the model is only checked for this version")
    exit()
'''


def fake_tokenflow_t2i(required: str = "4.43.4") -> dict[str, str]:
    """The t2i stand-in; ``required`` is the transformers version its import insists on (upstream's
    4.43.4 unless a test simulates the tokenflow environment)."""
    files = dict(FAKE_TOKENFLOW_T2I)
    files["t2i/llava_t2i/__init__.py"] = T2I_VERSION_CHECK.format(required=required) + "from . import model\n"
    return files


FAKE_TOKENFLOW_T2I = {
    "t2i/llava_t2i/model/__init__.py": '''
import torch
CALLS = []
class _Cfg:
    tokenizer_model_max_length, mm_vision_vq_type, use_cache = 256, "TOKEN_FLOW", True
class _VT:
    def to(self, *a, **k):  # VQTower.to returns None (vision_tokenizer.py:52-54)
        return None
class LlavaLlamaForCausalLM:
    def __init__(self):
        self.config = _Cfg()
        self.device = torch.device("cpu")
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
    def autoregressive_infer_cfg(self, B, prefix_text_codes=None, g_seed=None, cfg=1.5, topk_list=[600],
                                 topp_list=[0.6]):  # llava_llama.py:219-220
        assert all(c.device == self.device for c in prefix_text_codes)  # ids and model on one device
        assert len(prefix_text_codes) == 2 * B  # prompts then negatives
        CALLS.append(("infer", B, len(prefix_text_codes), cfg, list(topk_list), list(topp_list), g_seed))
        g = torch.Generator().manual_seed(g_seed)
        return [torch.randint(0, 256, (16, 16, 3), generator=g) for _ in range(B)]
''',
    "t2i/llava_t2i/dataset/__init__.py": "",
    "t2i/llava_t2i/dataset/process.py": '''
import torch
def crop_and_encode_text_and_img(tokenizer, text, image, max_text_token_num):
    ids = tokenizer(text)["input_ids"][:max_text_token_num]
    return torch.tensor(ids), len(ids)  # on the default device, as upstream's torch.tensor(...)
''',
}

TOKENFLOW_I2T_BUILDER = MODEL_STANDIN + '''
import os
class LlavaQwen(_Model):
    def generate(self, inputs=None, images=None, image_sizes=None, **kwargs):
        pix = self._check_pixels(images)
        CALLS.append(dict(images_is_list=isinstance(images, list), pixels=tuple(pix.shape), image_sizes=image_sizes,
                          has_mask="attention_mask" in kwargs,
                          **{k: v for k, v in kwargs.items() if k != "attention_mask"}))
        return inputs[:, inputs[0] != -200]
def load_pretrained_model(model_path, model_base, model_name, load_8bit=False, load_4bit=False, device_map="auto",
                          device="cuda", use_flash_attn=False, overwrite_config=None, **kwargs):
    from transformers import AutoTokenizer
    tower = (overwrite_config or {}).get("mm_vision_tower", "/cluster/path/tokenflow_siglip_32k.pt")
    assert os.path.exists(tower), "VQGAN model path is invalid: %s" % tower
    CALLS.append(dict(load=str(model_path), name=model_name, base=model_base, device=device, tower=tower, **kwargs))
    return AutoTokenizer.from_pretrained(model_path), LlavaQwen(), "image-processor", 2048
'''


def _tokenflow_code(tmp_path, required: str = "4.43.4"):
    files = fake_tokenflow_t2i(required)
    files.update({f"i2t/{k}": v for k, v in LLAVA_COMMON.items()})
    files["i2t/llava/model/builder.py"] = TOKENFLOW_I2T_BUILDER
    return _write(tmp_path / "tokenflow_code", files)


def test_tokenflow_plumbing(tmp_path, tiny_tok, face, clean_imports, monkeypatch):
    """In a simulated tokenflow environment (the stand-in and the plugin both accept the installed
    transformers as the one t2i insists on)."""
    from importlib.metadata import version

    have = version("transformers")
    code = _tokenflow_code(tmp_path, required=have)
    cls = load("tokenflow")
    monkeypatch.setattr(sys.modules[cls.__module__], "T2I_TRANSFORMERS", have)
    vq = tmp_path / "tokenflow_clipb_32k_enhanced.pt"
    vq.write_bytes(b"fake")
    siglip = tmp_path / "tokenflow_siglip_32k.pt"
    siglip.write_bytes(b"fake")
    a = cls(pretrained=str(tiny_tok), tokenizer_path=str(vq), und_pretrained=str(tiny_tok),
            und_tokenizer_path=str(siglip), code_path=str(code))
    out = a.generate_images([GenRequest("a", "a woman", n=2, seed=7, width=24, height=24)])[0]
    calls = sys.modules["llava_t2i.model"].CALLS
    assert ("load", str(tiny_tok), "eager", str(vq)) in calls and ("reinit",) in calls
    infer = [c for c in calls if c[0] == "infer"]
    assert infer == [("infer", 1, 2, 7.5, [600], [0.6], 7), ("infer", 1, 2, 7.5, [600], [0.6], 8)]
    assert out[0].size == (24, 24) and out[0].tobytes() != out[1].tobytes()
    ans = a.answer([_q(face)])
    assert ans == ["<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user: \nIs she smiling?<|im_end|>\n"
                   "<|im_start|>assistant:"]
    builder = sys.modules["llava.model.builder"]
    assert builder.CALLS[0] == dict(load=str(tiny_tok), name="tok", base=None, device="cpu", tower=str(siglip),
                                    attn_implementation="sdpa")  # lmms-eval llava.py:42-45,92-93
    gen = builder.CALLS[-1]
    assert not gen["images_is_list"] and gen["image_sizes"] == [(30, 40)] and gen["has_mask"]
    assert (gen["do_sample"], gen["temperature"], gen["num_beams"], gen["max_new_tokens"]) == (False, 0.0, 1, 1024)
    assert "stopping_criteria" not in gen and gen["pad_token_id"] is not None
    assert a.info()["understanding_dtype"] == "float16"


def test_tokenflow_generation_outside_its_transformers_is_one_clear_error(tmp_path, tiny_tok, face, clean_imports):
    """Upstream's t2i import calls exit() under any transformers but 4.43.4 (a run would end with
    status 0 and no results): the plugin refuses before importing it, and understanding — whose code
    imports on other versions — still runs in the same adapter (load imports neither half)."""
    code = _tokenflow_code(tmp_path)  # insists on 4.43.4, as upstream; this environment has another
    siglip = tmp_path / "tokenflow_siglip_32k.pt"
    siglip.write_bytes(b"fake")
    a = load("tokenflow")(pretrained=str(tiny_tok), und_pretrained=str(tiny_tok), und_tokenizer_path=str(siglip),
                          code_path=str(code))
    with pytest.raises(FacebenchError, match=r"transformers==4\.43\.4, this environment has .*exit\(\)"):
        a.generate_images([GenRequest("a", "a woman", seed=7, width=24, height=24)])
    assert "llava_t2i" not in sys.modules
    assert a.answer([_q(face)])[0].endswith("<|im_start|>assistant:")


def test_tokenflow_understanding_needs_the_siglip_tokenizer_file(tmp_path, tiny_tok, face, clean_imports):
    code = _tokenflow_code(tmp_path)
    a = load("tokenflow")(pretrained=str(tiny_tok), und_pretrained=str(tiny_tok), code_path=str(code),
                          und_tokenizer_path=str(tmp_path / "missing.pt"))
    with pytest.raises(FacebenchError, match="und_tokenizer_path"):
        a.answer([_q(face)])
