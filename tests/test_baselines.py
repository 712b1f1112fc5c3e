"""Baseline plugins (baselines/ = import package ``facebench_baselines``): every family is registered
in pyproject.toml, carries the paper's defaults and capabilities, and its request/response
plumbing works end to end — generic-backend baselines on tiny random models, research-code
baselines on stand-in research packages written here into a temp folder that mimic the API each
plugin calls (``code_path=``). The generation-side families' stand-ins (show-o, unif2ace, janusflow,
omniflow, llamagen) live in tests/test_standins_gen.py; their real-upstream tests in
tests/test_upstream_*.py."""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest


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
    "internvl-2.5": {"understand"}, "favchat": {"understand"},  # favchat: + "video" per instance (hf-vlm)
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
        if name in ("unif2ace", "favchat"):
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
                                       ("unif2ace", "not public")])
def test_missing_research_code_says_what_to_install(name, hint, tmp_path, clean_imports):
    from facebench.adapters.research import ResearchCodeMissing

    empty = tmp_path / "empty"
    empty.mkdir()
    cls = load(name)
    extra = {"llamagen": {"t5_path": str(tmp_path)}, "unif2ace": {"entry": "unif2ace_code:load"}}.get(name, {})
    a = cls(pretrained=str(tmp_path / "ckpt"), code_path=str(empty), **extra)  # other keys are refused
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


# Research-code baselines: stand-ins in tests/test_standins_gen.py and tests/test_baselines_und.py,
# real-upstream tests in tests/test_upstream_*.py.
