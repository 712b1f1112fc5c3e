"""janusflow on the real Janus code (deepseek-ai/Janus at the pinned commit), with tiny random weights
of the repo's own classes (``MultiModalityCausalLM``: a 1-layer SigLIP, the UViT encoder/decoder,
a 1-layer Llama at the fixed 2048 width) and a tiny SDXL-layout VAE, on CPU.

Generation: the README's ODE is checked step by step on what the real modules return (spies on the
LLM, the UViT decoder and the VAE): the CFG mask, the prompt ending in ``image_gen_tag`` whose
embedding is replaced by the time embedding, ``z ← z + dt·(w·v_c − (w−1)·v_u)``. Understanding: the
answer equals the README's own example calls (bfloat16, as the README runs them), and float32 runs
(the processor's bfloat16 default cast used to break it).

Run under the JanusFlow environment (see the plugin's ``environment``)::

    FACEBENCH_UPSTREAM_DIR=/path/to/checkouts <janusflow env>/bin/python -m pytest tests/test_upstream_janusflow.py
"""
from __future__ import annotations

import numpy as np
import pytest

from facebench.types import ChatRequest, GenRequest
from tests import upstream_support as up
from tests.tiny_models import _bpe_tokenizer

SPECIALS = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>", "<image_placeholder>", "<begin_of_image>",
            "<end_of_image>", "<｜begin▁of▁generation｜>"]
QUESTION = "Describe this person's face in detail."


def _plugin_cls():
    from tests.test_baselines import load

    return load("janusflow")


@pytest.fixture(scope="module")
def repo():
    from tests.tiny_models import torch_threads

    cls = _plugin_cls()
    up.require_pins(cls.environment.requirements)
    path = up.checkout("Janus", cls.environment.upstream.commit)
    with torch_threads(1):
        yield path
    up.forget_modules(path)


@pytest.fixture(scope="module")
def tiny(repo, tmp_path_factory):
    import sys

    import torch
    from diffusers import AutoencoderKL
    from PIL import Image
    from transformers import LlamaTokenizerFast

    sys.path.insert(0, str(repo))
    from janus.janusflow.models import MultiModalityCausalLM, VLChatProcessor, VLMImageProcessor
    from janus.janusflow.models.modeling_vlm import MultiModalityConfig

    root = tmp_path_factory.mktemp("janusflow")
    tok = LlamaTokenizerFast(tokenizer_object=_bpe_tokenizer(SPECIALS), bos_token=SPECIALS[0], eos_token=SPECIALS[1],
                             pad_token=SPECIALS[2], add_bos_token=True, add_eos_token=False)
    VLChatProcessor(image_processor=VLMImageProcessor(image_size=32, min_size=14), tokenizer=tok,
                    num_image_tokens=4).save_pretrained(root / "model")
    cfg = MultiModalityConfig(
        vision_und_enc_config={"cls": "CLIPVisionTower", "params": {"model_name": "siglip_large_patch16_384",
                                                                    "image_size": 32, "select_feature": "same",
                                                                    "select_layer": 1}},
        vision_gen_enc_config={"cls": "ShallowUViTEncoder", "params": {"input_channels": 4, "stride": 2, "kernel_size": 2,
                                                                       "block_out_channels": [768],
                                                                       "layers_in_middle": 1, "hidden_size": 2048}},
        vision_gen_dec_config={"cls": "ShallowUViTDecoder", "params": {"in_channels": 768, "out_channels": 4,
                                                                       "block_out_channels": [768], "upsamples": 1,
                                                                       "layers_in_middle": 1, "hidden_size": 2048}},
        language_config={"hidden_size": 2048, "intermediate_size": 64, "num_hidden_layers": 1,
                         "num_attention_heads": 16, "num_key_value_heads": 16, "vocab_size": len(tok),
                         "max_position_embeddings": 512, "initializer_range": 0.2},
    )
    torch.manual_seed(0)
    model = MultiModalityCausalLM(cfg)
    with torch.no_grad():
        model.language_model.lm_head.weight[tok.eos_token_id] = 0.0  # answers do not end at once
    model.save_pretrained(root / "model")
    torch.manual_seed(1)
    AutoencoderKL(block_out_channels=(32, 32, 32, 32), in_channels=3, out_channels=3, latent_channels=4,
                  layers_per_block=1, down_block_types=("DownEncoderBlock2D",) * 4,
                  up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=32, sample_size=64).save_pretrained(root / "vae")
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 256, (50, 40, 3), dtype=np.uint8)).save(root / "face.png")
    return root


def _adapter(repo, tiny, **kw):
    return _plugin_cls()(pretrained=str(tiny / "model"), vae=str(tiny / "vae"), resolution=64, code_path=str(repo), **kw)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_generation_follows_the_readme_ode_on_the_real_modules(repo, tiny, dtype):
    import torch

    w, steps = 2.0, 2
    a = _adapter(repo, tiny, num_inference_steps=steps, dtype=dtype)
    a.load()
    model, proc, vae = a._m_model, a._m_proc, a._m_vae
    seen: dict[str, list] = {"llm": [], "enc": [], "dec": [], "vae": []}

    def spy(module, key, fn):
        orig = getattr(module, fn)

        def wrapped(*args, **kwargs):
            out = orig(*args, **kwargs)
            seen[key].append((args, kwargs, out))
            return out
        setattr(module, fn, wrapped)

    spy(model.language_model.model, "llm", "forward")
    spy(model.vision_gen_enc_model, "enc", "forward")
    spy(model.vision_gen_dec_model, "dec", "forward")
    spy(vae, "vae", "decode")
    img = a.generate_images([GenRequest("a", "a smiling woman", seed=4, width=64, height=64)])[0][0]
    assert img.size == (64, 64) and np.asarray(img).std() > 0

    # the prompt: deepseek template, empty system prompt, + image_gen_tag (README.md:606-612)
    text = proc.apply_sft_template_for_multi_turn_prompts(
        conversations=[{"role": "User", "content": "a smiling woman"}, {"role": "Assistant", "content": ""}],
        sft_format=proc.sft_format, system_prompt="") + proc.image_gen_tag
    ids = torch.LongTensor(proc.tokenizer.encode(text))
    assert int(ids[-1]) == proc.image_gen_id and len(seen["llm"]) == steps
    emb = model.language_model.get_input_embeddings()
    uncond = torch.full_like(ids, proc.pad_id)
    uncond[0] = ids[0]
    n_img = 16
    for args, kwargs, _ in seen["llm"]:
        x, mask = kwargs["inputs_embeds"], kwargs["attention_mask"]
        prefix = len(ids) - 1  # the last token (image_gen_tag) becomes the time embedding
        assert x.shape[:2] == (2, prefix + 1 + n_img)
        assert torch.equal(x[0, :prefix], emb(ids[:-1].unsqueeze(0))[0])
        assert torch.equal(x[1, :prefix], emb(uncond[:-1].unsqueeze(0))[0])
        assert mask[0].all() and mask[1, 0] == 1 and not mask[1, 1:prefix].any() and mask[1, prefix:].all()
    # z ← z + dt·(w·v_cond − (w−1)·v_uncond), dt a tensor in the latents' dtype
    z = seen["enc"][0][0][0][:1]
    for k in range(steps):
        assert torch.equal(seen["enc"][k][0][0][:1], z)
        v_c, v_u = torch.chunk(seen["dec"][k][2], 2)
        z = z + (torch.zeros_like(z) + 1.0 / steps) * (w * v_c - (w - 1.0) * v_u)
    assert torch.equal(seen["vae"][0][0][0], (z / vae.config.scaling_factor).to(vae.dtype))
    # seeds: reproducible, per image, batch-independent
    again = a.generate_images([GenRequest("a", "a smiling woman", n=2, seed=3, width=64, height=64)])[0]
    assert again[1].tobytes() == img.tobytes() and again[0].tobytes() != img.tobytes()


def test_understanding_equals_the_readme_example(repo, tiny):
    """The README's understanding example (README.md:525-572) run as written — bfloat16 model,
    ``.to(device)`` with its bfloat16 default — gives the plugin's answer."""
    import torch
    from PIL import Image

    a = _adapter(repo, tiny, dtype="bfloat16", max_new_tokens=8)
    ours = a.answer([ChatRequest("d", str(tiny / "face.png"), ({"role": "user", "content": QUESTION},), {})])[0]
    proc, model = a._m_proc, a._m_model
    tok = proc.tokenizer
    conversation = [{"role": "User", "content": f"<image_placeholder>\n{QUESTION}", "images": ["face"]},
                    {"role": "Assistant", "content": ""}]
    inputs = proc(conversations=conversation, images=[Image.open(tiny / "face.png").convert("RGB")],
                  force_batchify=True).to(model.device)
    with torch.inference_mode():
        out = model.language_model.generate(
            inputs_embeds=model.prepare_inputs_embeds(**inputs), attention_mask=inputs.attention_mask,
            pad_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
            max_new_tokens=8, do_sample=False, use_cache=True)
    theirs = tok.decode(out[0].cpu().tolist(), skip_special_tokens=True)
    assert ours and ours == theirs.strip()


def test_understanding_runs_in_float32(repo, tiny):
    a = _adapter(repo, tiny, max_new_tokens=5)
    ans = a.answer([ChatRequest("d", str(tiny / "face.png"), ({"role": "user", "content": QUESTION},), {})])
    assert ans[0] and a.info()["dtype"] == "float32"
    assert a.info()["settings"]["max_new_tokens"] == 5 and a.info()["code"] == "git:" + a.environment.upstream.commit[:12]
