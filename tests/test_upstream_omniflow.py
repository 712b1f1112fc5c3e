"""omniflow on the real OmniFlow code (jacklishufan/OmniFlows at the pinned commit), loaded through
``OmniFlowPipeline.load_pretrained`` exactly as the plugin does, from tiny random weights of the
repo's own classes (``OmniFlowTransformerModel``, the ``LLamaForLatentConnector`` text VAE,
``LanguageBindAudio``) plus tiny CLIP / T5 / VAE models that the test lays out in a hub-cache folder
under the ids ``load_pretrained`` hard-codes — and the checkpoint folder itself under the default
hub id, so ``pretrained`` left at its default resolves offline.

Compared with upstream's own calls: text→image with the README example (readme.MD:37-40: 512²,
``cfg_mode='new'``, ``add_token_embed=0``), image→text with the pipeline's own i2t call
(omniflow_pipeline.py:984 and the ``<s>``/``</s>`` removal of :988), same seeds, bfloat16 as
``load_pretrained`` defaults to.

Two accommodations of this machine, applied only when needed: torchaudio >= 2.9 (the only release
that imports beside facebench's torch) no longer has ``set_audio_backend``, which
``omniflow/models/encoders.py:442`` calls at import, so it is stubbed; and the text decoder's
hard-coded ``.cuda()`` (text_vae.py:340-341) is made the identity for the captioning tests (the
plugin's own error without it is tested too).

Run under the OmniFlow environment (see the plugin's ``environment``; its torch / torchaudio pins
are not checked here because this machine keeps one torch)::

    FACEBENCH_UPSTREAM_DIR=/path/to/checkouts <omniflow env>/bin/python -m pytest tests/test_upstream_omniflow.py
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

from facebench.types import ChatRequest, GenRequest
from tests import upstream_support as up
from tests.tiny_models import _bpe_tokenizer, _fast_tokenizer

PROMPT = "portrait of a young woman with red hair, smiling"
SEED = 21
SMALL = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=1, num_attention_heads=4)


def _plugin_cls():
    from tests.test_baselines import load

    return load("omniflow")


@pytest.fixture(scope="module")
def repo():
    from tests.tiny_models import torch_threads

    cls = _plugin_cls()
    up.require_pins(tuple(r for r in cls.environment.requirements if not r.startswith(("torch==", "torchaudio=="))))
    path = up.checkout("OmniFlows", cls.environment.upstream.commit)
    import torchaudio

    if not hasattr(torchaudio, "set_audio_backend"):  # removed in torchaudio 2.9; encoders.py:442 calls it
        torchaudio.set_audio_backend = lambda *args, **kwargs: None
    sys.path.insert(0, str(path))
    with torch_threads(1):
        yield path
    up.forget_modules(path)


@pytest.fixture(scope="module")
def tiny(repo, tmp_path_factory):
    import torch
    from diffusers import AutoencoderKL
    from transformers import (CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTextConfig, CLIPTextModelWithProjection,
                              CLIPTokenizer, LlamaConfig, T5Config, T5EncoderModel, T5TokenizerFast)

    from omniflow.models.encoders import LanguageBindAudio, LanguageBindAudioConfig
    from omniflow.models.omni_flow import OmniFlowTransformerModel
    from omniflow.models.text_vae import LLamaForLatentConnector
    from omniflow.utils.scheduler import OmniFlowMatchEulerDiscreteScheduler
    from tests.tiny_models import write_clip_tokenizer

    root = tmp_path_factory.mktemp("omniflow")
    hub, ck = root / "hub", root / "ckpt"
    torch.manual_seed(0)
    raw = write_clip_tokenizer(root / "clip_bpe")
    clip_tok = CLIPTokenizer(str(raw / "vocab.json"), str(raw / "merges.txt"), model_max_length=77,
                             pad_token="<|endoftext|>")
    # laion CLIP-L: load_pretrained reads its tokenizer, text and vision towers (projection_dim forced to 768)
    laion = root / "laion"
    CLIPModel(CLIPConfig(text_config=dict(SMALL, vocab_size=49408, max_position_embeddings=77, projection_dim=768),
                         vision_config=dict(SMALL, image_size=32, patch_size=16, projection_dim=768),
                         projection_dim=768)).save_pretrained(laion)
    clip_tok.save_pretrained(laion)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(laion)
    up.hub_cache_model(hub, "laion/CLIP-ViT-L-14-DataComp.XL-s13B-b90K", laion)
    # flan-t5-large: the text VAE's encoder
    t5 = root / "t5"
    fast = _fast_tokenizer(_bpe_tokenizer(["<pad>", "</s>", "<unk>"]), pad_token="<pad>", eos_token="</s>",
                           unk_token="<unk>")
    T5TokenizerFast(tokenizer_object=fast._tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                    extra_ids=0).save_pretrained(t5)
    T5EncoderModel(T5Config(vocab_size=len(fast), d_model=32, d_kv=8, d_ff=64, num_layers=1,
                            num_heads=4)).save_pretrained(t5)
    up.hub_cache_model(hub, "google/flan-t5-large", t5)
    # LanguageBind audio tower (its __init__ rewrites vision image_size to a list; the released config holds an int)
    lb = LanguageBindAudio(LanguageBindAudioConfig(
        text_config=dict(SMALL, vocab_size=100, max_position_embeddings=77),
        vision_config=dict(SMALL, image_size=32, patch_size=16, num_mel_bins=32, target_length=32), projection_dim=16))
    lb.config.vision_config.image_size = 32
    lb.save_pretrained(root / "languagebind")
    up.hub_cache_model(hub, "LanguageBind/LanguageBind_Audio_FT", root / "languagebind")
    AutoencoderKL(in_channels=1, out_channels=1, latent_channels=8, block_out_channels=(32, 32), layers_per_block=1,
                  down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                  norm_num_groups=32).save_pretrained(root / "audioldm2" / "vae")
    up.hub_cache_model(hub, "cvssp/audioldm2", root / "audioldm2")
    # the checkpoint folder (the layout load_pretrained joins onto its path)
    clip_tok.save_pretrained(ck / "tokenizer_2")
    CLIPTextModelWithProjection(CLIPTextConfig(**SMALL, vocab_size=49408, max_position_embeddings=77,
                                               projection_dim=16)).save_pretrained(ck / "text_encoder_2")
    AutoencoderKL(in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(32,) * 4, layers_per_block=1,
                  down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                  norm_num_groups=32, scaling_factor=1.5, shift_factor=0.1).save_pretrained(ck / "vae")
    vtok = _fast_tokenizer(_bpe_tokenizer(["<s>", "</s>", "<unk>"]), bos_token="<s>", eos_token="</s>",
                           unk_token="<unk>")
    vtok.save_pretrained(ck / "vae_tokenizer")
    lcfg = LlamaConfig(vocab_size=len(vtok) + 8, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                       num_attention_heads=4, bos_token_id=0, eos_token_id=1, pad_token_id=len(vtok),
                       vae_config=dict(prompt_size=32, vae_dim=16, vae_hidden_size=24, n_tokens=4, pre_norm=False,
                                       norm_type="layer_norm", vae_scale=1.0))
    lcfg.save_pretrained(ck / "text_vae")
    with torch.no_grad():
        text_vae = LLamaForLatentConnector._from_config(lcfg)
        text_vae.lm_head.weight[1] = 0.0  # captions do not end at once
    transformer = OmniFlowTransformerModel(sample_size=8, patch_size=2, in_channels=16, num_layers=2,
                                           attention_head_dim=16, num_attention_heads=2, joint_attention_dim=4096,
                                           caption_projection_dim=32, pooled_projection_dim=768 + 16,
                                           audio_input_dim=8, out_channels=16, pos_embed_max_size=32)
    transformer.save_config(ck / "transformer")
    transformer.set_text_decoder(text_vae)
    torch.save(transformer.state_dict(), ck / "transformer" / "diffusion_pytorch_model.bin")
    OmniFlowMatchEulerDiscreteScheduler().save_config(ck / "scheduler")
    up.hub_cache_model(hub, "jacklishufan/OmniFlow-v0.5", ck)  # the plugin's default checkpoint id
    from PIL import Image

    Image.fromarray(np.random.default_rng(2).integers(0, 256, (60, 48, 3), dtype=np.uint8)).save(root / "face.png")
    with up.hub_cache(hub):
        yield root


@pytest.fixture(scope="module")
def plugin(repo, tiny):
    """The plugin at its defaults (hub id, 512², cfg_mode new, …) in bfloat16, load_pretrained's dtype."""
    a = _plugin_cls()(code_path=str(repo), dtype="bfloat16")
    a.load()
    return a


@pytest.fixture(scope="module")
def readme_pipeline(repo, tiny):
    """The README's own lines (readme.MD:37-39), on CPU."""
    from omniflow import OmniFlowPipeline

    pipeline = OmniFlowPipeline.load_pretrained(str(tiny / "ckpt"), device="cpu")
    pipeline.cfg_mode = "new"
    return pipeline


def test_generation_equals_the_readme_example(plugin, readme_pipeline):
    import torch

    ours = plugin.generate_images([GenRequest("a", PROMPT, n=2, seed=SEED, width=512, height=512)])[0]
    torch.manual_seed(SEED)
    with torch.inference_mode():
        imgs = readme_pipeline(PROMPT, height=512, width=512, add_token_embed=0, task="t2i")  # readme.MD:40
    theirs = imgs.images[0]
    assert theirs.size == (512, 512)
    assert np.array_equal(np.asarray(ours[0]), np.asarray(theirs.convert("RGB")))
    assert not np.array_equal(np.asarray(ours[1]), np.asarray(theirs.convert("RGB")))
    assert plugin.info()["settings"]["cfg_mode"] == "new" and plugin.info()["dtype"] == "bfloat16"


def test_captions_equal_the_pipelines_own_i2t_call(plugin, readme_pipeline, tiny, monkeypatch):
    import torch
    from PIL import Image

    monkeypatch.setattr(torch.Tensor, "cuda", lambda self, *a, **k: self)  # text_vae.py:340-341 on CPU
    ours = plugin.answer([ChatRequest("d", str(tiny / "face.png"), ({"role": "user", "content": "Describe."},), {})])
    torch.manual_seed(0)
    with torch.inference_mode():  # omniflow_pipeline.py:984, then :988
        out = readme_pipeline("", input_img=Image.open(tiny / "face.png").convert("RGB"), height=512, width=512,
                              add_token_embed=1, task="i2t", return_embed=False, guidance_scale=2, drop_pool=False)
    theirs = out[0][0].replace("<s>", "").replace("</s>", "")
    assert ours[0] and ours[0] == theirs.strip() and "<s>" not in ours[0] and "</s>" not in ours[0]


def test_captioning_without_cuda_is_one_clear_error(plugin, tiny):
    import torch

    from facebench.errors import FacebenchError

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(FacebenchError, match="captioning needs a CUDA device"):
        plugin.answer([ChatRequest("d", str(tiny / "face.png"), ({"role": "user", "content": "Describe."},), {})])
