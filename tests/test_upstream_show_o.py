"""show-o on the real Show-o code (showlab/Show-o at the pinned commit), with tiny random weights of
the repo's own classes (``Showo`` over a 2-layer Phi, the full ``MAGVITv2`` — it has no size knobs),
compared with the repo's own scripts: ``inference_t2i.py`` (mode t2i) and ``inference_mmu.py``
(option (a), MAGVIT tokens) run unchanged in a subprocess, with a ``wandb`` stand-in that saves what
they log and a hub-cache folder holding a tiny CLIP for the tower ``inference_mmu.py`` always loads.

Run under the Show-o environment (see the plugin's ``environment``)::

    FACEBENCH_UPSTREAM_DIR=/path/to/checkouts <show-o env>/bin/python -m pytest tests/test_upstream_show_o.py
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facebench.types import ChatRequest, GenRequest
from tests import upstream_support as up

from tests.tiny_models import _bpe_tokenizer, _fast_tokenizer

PROMPT = "a young woman with long blond hair, smiling"
QUESTION = "Describe this person's face in detail."
SEED = 11
STEPS = 4


def _plugin_cls():
    from tests.test_baselines import load

    return load("show-o")


@pytest.fixture(scope="module")
def repo():
    from tests.tiny_models import torch_threads

    cls = _plugin_cls()
    up.require_pins(cls.environment.requirements)
    path = up.checkout("Show-o", cls.environment.upstream.commit)
    with torch_threads(1):  # as the reference subprocess runs: same float sums, same pixels
        yield path
    up.forget_modules(path)


@pytest.fixture(scope="module")
def tiny(repo, tmp_path_factory):
    """Tokenizer (Phi-style: one <|endoftext|> for bos/eos), a tiny Phi config, a Showo over it whose
    lm-head bias favours text tokens (so a random model's answers are not empty), the MAGVITv2, a
    tiny CLIP vision tower in a hub-cache folder, and a face image."""
    import torch
    from PIL import Image
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel, PhiConfig

    sys.path.insert(0, str(repo))
    from models import MAGVITv2, Showo

    root = tmp_path_factory.mktemp("showo")
    llm = root / "phi"
    eot = "<|endoftext|>"
    tok = _fast_tokenizer(_bpe_tokenizer([eot]), bos_token=eot, eos_token=eot, unk_token=eot)
    tok.save_pretrained(llm)
    n_text = len(tok)
    PhiConfig(vocab_size=n_text, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
              max_position_embeddings=512, initializer_range=0.2).save_pretrained(llm)
    torch.manual_seed(0)
    model = Showo(w_clip_vit=False, vocab_size=n_text + 10 + 8192 + 1, llm_vocab_size=n_text, llm_model_path=str(llm),
                  codebook_size=8192, num_vq_tokens=16, load_from_showo=True)
    with torch.no_grad():
        model.showo.lm_head.bias[n_text:] -= 30.0  # answers: text tokens, not image codes
        model.showo.lm_head.bias[tok.eos_token_id] -= 30.0  # and not an immediate end
    model.save_pretrained(root / "showo")
    MAGVITv2().save_pretrained(root / "vq")
    clip = root / "clip"
    CLIPVisionModel(CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                     image_size=32, patch_size=16, projection_dim=16)).save_pretrained(clip)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(clip)
    hub = root / "hub"
    up.hub_cache_model(hub, "openai/clip-vit-large-patch14-336", clip)
    faces = root / "faces"
    faces.mkdir()
    rng = np.random.default_rng(3)
    arr = (np.linspace(0, 255, 90 * 70 * 3).reshape(90, 70, 3) * 0.6 + rng.integers(0, 100, (90, 70, 3))).astype(np.uint8)
    Image.fromarray(arr).save(faces / "face.png")
    return {"root": root, "llm": llm, "showo": root / "showo", "vq": root / "vq", "hub": hub, "faces": faces,
            "n_text": n_text}


def _adapter(repo, tiny, **kw):
    return _plugin_cls()(pretrained=str(tiny["showo"]), llm_model=str(tiny["llm"]), vq_model=str(tiny["vq"]),
                         resolution=64, code_path=str(repo), **kw)


def _run_script(repo: Path, tiny: dict, script: str, args: list[str], out: Path, seed_before_sampling: int | None):
    """Run one of the repo's scripts unchanged (``runpy``), with the fake wandb first on the path and,
    for t2i, the global RNG seeded where the plugin seeds it: right before sampling (the script
    calls ``get_mask_chedule`` just before ``t2i_generate``)."""
    fake = up.write_fake_wandb(tiny["root"] / "fake_wandb")
    wrapper = (
        "import runpy, sys, torch\n"
        f"sys.path[:0] = [{str(fake)!r}, {str(repo)!r}]\n"
        "torch.set_num_threads(1)\n"
        "import models\n"
        f"seed = {seed_before_sampling!r}\n"
        "if seed is not None:\n"
        "    original = models.get_mask_chedule\n"
        "    def seeded_schedule(*a, **k):\n"
        "        torch.manual_seed(seed)\n"
        "        return original(*a, **k)\n"
        "    models.get_mask_chedule = seeded_schedule\n"
        f"sys.argv = [{script!r}] + {args!r}\n"
        f"runpy.run_path({script!r}, run_name='__main__')\n"
    )
    env = dict(os.environ, FAKE_WANDB_OUT=str(out), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               HF_HUB_CACHE=str(tiny["hub"]), WANDB_MODE="disabled")
    proc = subprocess.run([sys.executable, "-c", wrapper], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return up.logged(out)


def _config_args(tiny: dict) -> list[str]:
    return ["config=configs/showo_demo_512x512.yaml",
            f"model.showo.pretrained_model_path={tiny['showo']}", f"model.showo.llm_model_path={tiny['llm']}",
            f"model.vq_model.vq_model_name={tiny['vq']}", f"model.showo.llm_vocab_size={tiny['n_text']}",
            "model.showo.num_vq_tokens=16", "dataset.params.resolution=64"]


def test_generation_equals_the_repos_inference_t2i_script(repo, tiny):
    a = _adapter(repo, tiny, generation_timesteps=STEPS)
    ours = a.generate_images([GenRequest("a", PROMPT, n=2, seed=SEED, width=64, height=64)])[0]
    prompts = tiny["root"] / "prompts.txt"
    prompts.write_text(PROMPT + "\n")
    ref = _run_script(repo, tiny, "inference_t2i.py",
                      _config_args(tiny) + ["batch_size=1", f"validation_prompts_file={prompts}", "guidance_scale=5",
                                            f"generation_timesteps={STEPS}", "mode=t2i"],
                      tiny["root"] / "t2i_out", seed_before_sampling=SEED)
    assert len(ref) == 1 and ref[0][1] == PROMPT
    from PIL import Image

    theirs = np.asarray(Image.open(ref[0][0]).convert("RGB"))
    assert np.array_equal(np.asarray(ours[0]), theirs)  # same pixels as the repo's own script
    assert not np.array_equal(np.asarray(ours[1]), theirs)  # the next seed is another image
    info = a.info()
    assert info["code"] == "git:" + a.environment.upstream.commit[:12]
    assert info["settings"]["guidance_scale"] == 5.0 and info["settings"]["generation_timesteps"] == STEPS
    assert info["checkpoint_config"] == {"llm_vocab_size": tiny["n_text"], "codebook_size": 8192, "num_vq_tokens": 16,
                                         "num_new_special_tokens": 10}


def test_understanding_equals_the_repos_inference_mmu_script(repo, tiny):
    a = _adapter(repo, tiny, max_new_tokens=6)
    ans = a.answer([ChatRequest("d", str(tiny["faces"] / "face.png"), ({"role": "user", "content": QUESTION},), {})])[0]
    ref = _run_script(repo, tiny, "inference_mmu.py",
                      _config_args(tiny) + ["max_new_tokens=6", f"mmu_image_root={tiny['faces']}",
                                            f"question={QUESTION}"],
                      tiny["root"] / "mmu_out", seed_before_sampling=None)
    caption = ref[0][1]
    assert caption.startswith(f"User: {QUESTION}\n Answer : ")
    theirs = caption[len(f"User: {QUESTION}\n Answer : "):].rstrip("\n")
    assert ans.strip() and ans == theirs.strip()
    # the comparison can tell resizes apart: bilinear (the plugin's old transform) gives other tokens
    import torch
    from torchvision import transforms

    from PIL import Image

    img = Image.open(tiny["faces"] / "face.png").convert("RGB")
    bicubic = a._m_transform(img, resolution=64)
    bilinear = transforms.Compose([transforms.Resize(64, interpolation=transforms.InterpolationMode.BILINEAR),
                                   transforms.CenterCrop(64), transforms.ToTensor(),
                                   transforms.Normalize([0.5] * 3, [0.5] * 3)])(img)
    with torch.no_grad():
        assert not torch.equal(a._m_vq.get_code(bicubic[None]), a._m_vq.get_code(bilinear[None]))


def test_mismatched_tokenizer_or_resolution_is_one_clear_error(repo, tiny):
    from facebench.errors import FacebenchError

    with pytest.raises(FacebenchError, match="resolution=64"):
        _plugin_cls()(pretrained=str(tiny["showo"]), llm_model=str(tiny["llm"]), vq_model=str(tiny["vq"]),
                      code_path=str(repo)).generate_images([GenRequest("a", "x")])
    other = tiny["root"] / "other_tok"
    eot = "<|endoftext|>"
    _fast_tokenizer(_bpe_tokenizer([eot, "<x1>", "<x2>"], vocab_size=300), bos_token=eot, eos_token=eot,
                    unk_token=eot).save_pretrained(other)
    with pytest.raises(FacebenchError, match="does not match checkpoint"):
        _plugin_cls()(pretrained=str(tiny["showo"]), llm_model=str(other), vq_model=str(tiny["vq"]), resolution=64,
                      code_path=str(repo)).generate_images([GenRequest("a", "x")])
