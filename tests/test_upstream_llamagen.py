"""llamagen on the real LlamaGen code (FoundationVision/LlamaGen at the pinned commit), with tiny random
weights of the repo's own classes (its ``Transformer`` GPT and ``VQModel``, registered in its
``GPT_models`` / ``VQ_models`` tables under tiny names, and a tiny T5 encoder in the ``t5_path``
layout ``language/t5.py`` expects), checkpoints saved the way its training scripts save them (with
the run's ``argparse.Namespace``), on CPU.

The plugin's image is compared with the repo's own ``autoregressive/sample/sample_t2i.py`` run
unchanged in a subprocess (its prompt list swapped for ours at ``get_text_embeddings``, its global RNG
seeded where the plugin seeds it: right before ``generate``).

Run under the LlamaGen environment (see the plugin's ``environment``)::

    FACEBENCH_UPSTREAM_DIR=/path/to/checkouts <llamagen env>/bin/python -m pytest tests/test_upstream_llamagen.py
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facebench.types import GenRequest
from tests import upstream_support as up
from tests.tiny_models import _bpe_tokenizer, _fast_tokenizer

WORKTREE = Path(__file__).resolve().parent.parent
PROMPT = "a middle-aged man with a short beard, wearing glasses"
SEED = 7
T5_DIM = 32


def register_tiny(gpt_mod, vq_mod) -> None:
    """Tiny members of the repo's model tables (same classes, small ``ModelArgs``)."""
    gpt_mod.GPT_models["GPT-tiny"] = lambda **kw: gpt_mod.Transformer(
        gpt_mod.ModelArgs(n_layer=2, n_head=2, dim=64, caption_dim=T5_DIM, **kw))
    vq_mod.VQ_models["VQ-tiny16"] = lambda **kw: vq_mod.VQModel(
        vq_mod.ModelArgs(encoder_ch_mult=[1, 1, 1, 1, 1], decoder_ch_mult=[1, 1, 1, 1, 1], z_channels=8, **kw))


def _plugin_cls():
    from tests.test_baselines import load

    return load("llamagen")


@pytest.fixture(scope="module")
def repo():
    from tests.tiny_models import torch_threads

    cls = _plugin_cls()
    up.require_pins(cls.environment.requirements)
    path = up.checkout("LlamaGen", cls.environment.upstream.commit)
    sys.path.insert(0, str(path))
    import autoregressive.models.gpt as gpt_mod
    import tokenizer.tokenizer_image.vq_model as vq_mod

    register_tiny(gpt_mod, vq_mod)
    with torch_threads(1):
        yield path
    up.forget_modules(path)


@pytest.fixture(scope="module")
def tiny(repo, tmp_path_factory):
    import torch
    from transformers import T5Config, T5EncoderModel

    import autoregressive.models.gpt as gpt_mod
    import tokenizer.tokenizer_image.vq_model as vq_mod

    root = tmp_path_factory.mktemp("llamagen")
    t5 = root / "t5" / "flan-t5-xl"
    tok = _fast_tokenizer(_bpe_tokenizer(["<pad>", "</s>", "<unk>"]), pad_token="<pad>", eos_token="</s>",
                          unk_token="<unk>")
    tok.padding_side = "right"
    tok.save_pretrained(t5)
    torch.manual_seed(0)
    T5EncoderModel(T5Config(vocab_size=len(tok), d_model=T5_DIM, d_kv=8, d_ff=64, num_layers=1, num_heads=4,
                            initializer_factor=4.0)).save_pretrained(t5)
    opts = argparse.Namespace(gpt_model="GPT-tiny", image_size=256, lr=1e-4, no_local_save=False, data_path=None)
    gpt = gpt_mod.GPT_models["GPT-tiny"](block_size=256, cls_token_num=120, model_type="t2i")
    with torch.no_grad():
        for p in gpt.parameters():  # the repo's own init is 0.02-scaled (near-uniform logits); widen it
            p.normal_(0.0, 0.3)
    torch.save({"model": gpt.state_dict(), "optimizer": {}, "steps": 10, "args": opts}, root / "gpt.pt")
    vq = vq_mod.VQ_models["VQ-tiny16"](codebook_size=16384, codebook_embed_dim=8)
    torch.save({"model": vq.state_dict(), "steps": 10, "args": opts}, root / "vq.pt")
    return root


def _adapter(repo, tiny, **kw):
    return _plugin_cls()(pretrained=str(tiny / "gpt.pt"), vq_ckpt=str(tiny / "vq.pt"), t5_path=str(tiny / "t5"),
                         gpt_model="GPT-tiny", vq_model="VQ-tiny16", image_size=256, code_path=str(repo), **kw)


def _run_sample_t2i(repo: Path, tiny: Path, out: Path) -> Path:
    wrapper = (
        "import runpy, sys, torch\n"
        f"sys.path[:0] = [{str(repo)!r}, {str(WORKTREE)!r}]\n"
        "torch.set_num_threads(1)\n"
        "import autoregressive.models.gpt as g, tokenizer.tokenizer_image.vq_model as v\n"
        "import autoregressive.models.generate as gen, language.t5 as t5\n"
        "from tests.test_upstream_llamagen import register_tiny\n"
        "register_tiny(g, v)\n"
        # the script's own torch.load (weights_only is the default since torch 2.6) refuses the
        # Namespace its training scripts store, exactly as the plugin would without its allow-list
        "import argparse\n"
        "torch.serialization.add_safe_globals([argparse.Namespace])\n"
        "original_generate, original_embed = gen.generate, t5.T5Embedder.get_text_embeddings\n"
        "def seeded_generate(*a, **k):\n"
        f"    torch.manual_seed({SEED})\n"
        "    return original_generate(*a, **k)\n"
        "gen.generate = seeded_generate\n"
        f"t5.T5Embedder.get_text_embeddings = lambda self, texts: original_embed(self, [{PROMPT!r}])\n"
        "sys.argv = ['sample_t2i.py'] + sys.argv[1:]\n"
        f"runpy.run_path({str(repo / 'autoregressive/sample/sample_t2i.py')!r}, run_name='__main__')\n"
    )
    args = ["--t5-path", str(tiny / "t5"), "--gpt-model", "GPT-tiny", "--gpt-ckpt", str(tiny / "gpt.pt"),
            "--vq-model", "VQ-tiny16", "--vq-ckpt", str(tiny / "vq.pt"), "--image-size", "256", "--precision", "none"]
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-c", wrapper, *args], cwd=out, env=dict(os.environ, PYTHONPATH=str(repo)),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "sample_t2i.png"


def test_image_equals_the_repos_sample_t2i_script(repo, tiny):
    from PIL import Image

    a = _adapter(repo, tiny, dtype="float32")
    ours = a.generate_images([GenRequest("a", PROMPT, n=2, seed=SEED, width=256, height=256)])[0]
    theirs = np.asarray(Image.open(_run_sample_t2i(repo, tiny, tiny / "script_out")).convert("RGB"))
    assert theirs.shape == (256, 256, 3)
    assert np.array_equal(np.asarray(ours[0]), theirs)
    assert not np.array_equal(np.asarray(ours[1]), theirs)
    s = a.info()["settings"]
    assert (s["cfg_scale"], s["top_k"], s["top_p"], s["temperature"]) == (7.5, 1000, 1.0, 1.0)


def test_checkpoints_with_argparse_namespace_load_and_other_globals_are_refused(repo, tiny, tmp_path):
    import torch

    load_checkpoint = sys.modules[_plugin_cls().__module__].load_checkpoint
    ck = load_checkpoint(str(tiny / "gpt.pt"))
    assert isinstance(ck["args"], argparse.Namespace) and ck["args"].gpt_model == "GPT-tiny"
    bad = tmp_path / "bad.pt"
    torch.save({"model": {}, "obj": Path("/etc")}, bad)
    with pytest.raises(Exception, match="(?i)weights_only|unsupported global"):
        load_checkpoint(str(bad))
