"""tokenflow on the real TokenFlow code (ByteVisionLab/TokenFlow at the pinned commit), both halves, on
CPU, through the plugin's own loading path, with tiny random weights of upstream's own classes:

- the image tokenizers are upstream's ``TokenFlow`` built by its own ``tokenflow_model`` (t2i:
  ``clipb_224`` teacher, enhanced decoder, 9 scales up to 16²; i2t: ``siglip_384`` teacher, 15 scales up
  to 27²), small through a test-only entry in upstream's ``VQ_models`` table: the same class with a
  32-channel pixel encoder/decoder of one res block per level and a 1-layer, MLP-ratio-1 semantic
  decoder (``tiny_tokenflow``). The teachers keep the widths the tokenizer's layers are built for
  (768, 1152): a 1-layer ViT-B/16-shaped CLIP written as the TorchScript file ``clip.load_clip_vision``
  reads from ``./clip_model`` (``write_clip_vit_b16``), and a 2-layer SigLIP saved under the hub id
  ``vq_model.py:169`` asks for. Tokenizer checkpoints are saved as ``vq_train.py:330-337`` saves them
  (with the run's ``argparse.Namespace``).
- the LLMs are upstream's ``LlavaLlamaForCausalLM`` (t2i, with a slow LLaMA tokenizer holding the
  32768 ``<vq_token_i>`` tokens) and ``LlavaQwenForCausalLM`` (i2t, Qwen2 byte-level BPE tokenizer),
  2 layers each, written with ``save_pretrained``.

Compared with upstream's own calls, same inputs and seeds: text→image with
``t2i/llava_t2i/eval/run_llava_samples.py`` run unchanged in a subprocess (``run_t2i.sh``'s arguments,
``--mixed_precision none`` and ``bf16``), its prompt list swapped for ours at
``crop_and_encode_text_and_img``, its global RNG seeded right before ``autoregressive_infer_cfg`` (the
script passes ``g_seed=None``), stopped after the first image; image→text with lmms-eval@7f9c482's
``Llava.generate_until`` (the evaluation GETTING_STARTED.md:89-106 prescribes), on a checkpoint whose
config names the tokenizer file, while the plugin is given a copy whose config names a path that does
not exist here (as the released checkpoint's does) and relies on ``overwrite_config``.

Test-only stubs, each because this machine is offline and CUDA-less: ``clip._download`` returns the
file in ``./clip_model`` without its SHA-256 check or a download (the tiny file is not OpenAI's), and
the reference script's ``model.cuda()`` (run_llava_samples.py:64) is the identity. Nothing else of
upstream is replaced.

Run under the TokenFlow environment (the plugin's ``environment``: transformers 4.43.4 …), with
``FACEBENCH_UPSTREAM_DIR`` holding ``TokenFlow`` at the pinned commit, and ``lmms-eval`` at 7f9c482
plus the packages its ``llava`` model imports (loguru, sqlitedict, evaluate, hf_transfer, pytz) for the
understanding comparison::

    FACEBENCH_UPSTREAM_DIR=/path/to/checkouts <tokenflow env>/bin/python -m pytest tests/test_upstream_tokenflow.py
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facebench.types import ChatRequest, GenRequest
from tests import upstream_support as up

WORKTREE = Path(__file__).resolve().parent.parent
LMMS_EVAL_COMMIT = "7f9c482f7e2c289fe50c45f8dd7cd01cc8966508"
PROMPT = "A portrait of a woman."  # one of the script's own prompts (run_llava_samples.py:40)
SEED = 5
VQ_CODES = 32768  # the codebook both halves hard-code (tokenflow.py:22, vision_tokenizer.py:144)
LMMS_EVAL_IMPORTS = ("loguru", "sqlitedict", "evaluate", "hf_transfer", "pytz")


# ------------------------------------------------------------------------------ tiny upstream classes
def tiny_tokenflow(vq_mod):
    """A ``VQ_models['TokenFlow']`` entry: upstream's ``TokenFlow`` with upstream's channel multipliers
    (``TokenFlowFunc``, vq_model.py:925-926) and the caller's arguments, but 32 pixel channels, one
    res block per level, 32 latent channels and a 1-layer, MLP-ratio-1 semantic decoder — the
    constructors ``TokenFlow.__init__`` calls with fixed full sizes (vq_model.py:90-102, 182) get
    those sizes while it runs."""
    from facebench_baselines._upstream_shims import patched

    encoder, decoder, vit = vq_mod.Encoder, vq_mod.Decoder, vq_mod.VisionTransformer

    def build(**kwargs):
        with patched(vq_mod, "Encoder", lambda **kw: encoder(**{**kw, "ch": 32, "num_res_blocks": 1})), \
                patched(vq_mod, "Decoder", lambda **kw: decoder(**{**kw, "ch": 32, "num_res_blocks": 1})), \
                patched(vq_mod, "VisionTransformer", lambda **kw: vit(**{**kw, "depth": 1, "mlp_ratio": 1.0})):
            return vq_mod.TokenFlow(vq_mod.ModelArgs(encoder_ch_mult=[1, 1, 2, 2, 4], decoder_ch_mult=[1, 1, 2, 2, 4],
                                                     z_channels=32, **kwargs))

    return build


def local_clip_file(url: str, root: str) -> str:
    """Test-only stand-in for ``clip._download`` (clip.py:42-71): the file where upstream puts it,
    without the SHA-256 check (it would fail on the tiny file) or the download."""
    path = os.path.join(root, os.path.basename(url))
    assert os.path.isfile(path), path
    return path


def write_clip_vit_b16(clip_model_mod, path: Path) -> Path:
    """A TorchScript file shaped like OpenAI's ViT-B-16.pt where ``load_clip_vision`` looks
    (clip.py:242-271 reads ``visual.*`` and ``text_projection``): upstream's CLIP ``VisionTransformer``
    at 224², patch 16, width 768 (``TokenFlow`` projects 768-wide features, vq_model.py:132,187-191),
    one layer."""
    import torch

    class OpenAIClipFile(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.visual = clip_model_mod.VisionTransformer(input_resolution=224, patch_size=16, width=768, layers=1,
                                                           heads=12, output_dim=512)
            self.text_projection = torch.nn.Parameter(torch.zeros(8, 512))

        def forward(self, x):
            return self.visual(x)

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(torch.jit.trace(OpenAIClipFile().eval(), torch.zeros(1, 3, 224, 224)), str(path))
    return path


def save_like_vq_train(model, path: Path) -> Path:
    """As tokenflow/tokenizer/vq_train.py:330-337 saves a checkpoint (weights, optimizer, steps and the
    run's ``argparse.Namespace``), in float16 to keep the file small."""
    import torch

    weights = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    opts = argparse.Namespace(vq_model="TokenFlow", codebook_size=VQ_CODES, teacher=model.teacher, ema=False)
    torch.save({"model": weights, "optimizer": {}, "steps": 10, "args": opts}, path)
    return path


def write_vq_token_tokenizer(folder: Path) -> None:
    """A slow LLaMA tokenizer (SentencePiece) with ``[PAD]``, ``<img>``, ``</img>`` and the 32768
    ``<vq_token_i>`` special tokens that ``initialize_vision_tokenizer`` adds (llava_arch.py:402-410),
    written straight into tokenizer_config.json: adding 32768 special tokens one by one through the
    slow tokenizer takes tens of minutes."""
    from transformers import LlamaTokenizer

    from llava_t2i.constants import DEFAULT_VQ_TOKEN_TEMPLATE, IMAGE_END_TOKEN_GEN, IMAGE_START_TOKEN_GEN
    from tests.tiny_models import write_tiny_sentencepiece

    tok = LlamaTokenizer(vocab_file=str(write_tiny_sentencepiece(folder.parent / "sp" / "tokenizer.model")),
                         legacy=False)
    tok.add_special_tokens({"pad_token": "[PAD]"})
    tok.add_tokens([IMAGE_START_TOKEN_GEN, IMAGE_END_TOKEN_GEN], special_tokens=True)
    tok.save_pretrained(folder)
    cfg_file = folder / "tokenizer_config.json"
    cfg = json.loads(cfg_file.read_text())
    first = len(tok)
    vq_tokens = [DEFAULT_VQ_TOKEN_TEMPLATE % i for i in range(VQ_CODES)]
    for i, t in enumerate(vq_tokens):
        cfg["added_tokens_decoder"][str(first + i)] = dict(content=t, lstrip=False, normalized=False, rstrip=False,
                                                          single_word=False, special=True)
    cfg["additional_special_tokens"] = list(cfg.get("additional_special_tokens") or []) + vq_tokens
    cfg_file.write_text(json.dumps(cfg))


# ------------------------------------------------------------------------------------------ fixtures
def _plugin_cls():
    from tests.test_baselines import load

    return load("tokenflow")


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """The checkout on sys.path as the plugin puts it, in a working directory of its own (upstream
    reads ./clip_model)."""
    from tests.tiny_models import torch_threads

    cls = _plugin_cls()
    up.require_pins(cls.environment.requirements)
    path = up.checkout("TokenFlow", cls.environment.upstream.commit)
    sys.path[:0] = [str(path), str(path / "t2i"), str(path / "i2t")]
    with pytest.MonkeyPatch.context() as mp, torch_threads(1):
        mp.chdir(tmp_path_factory.mktemp("tokenflow_cwd"))
        yield path
    up.forget_modules(path)


@pytest.fixture(scope="module")
def face(tmp_path_factory) -> Path:
    from PIL import Image

    path = tmp_path_factory.mktemp("face") / "face.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def t2i(repo):
    """(checkpoint folder, tokenizer file) of a tiny TokenFlow-t2i; the tiny VQ_models entry and the
    checksum stub stay in place for the module."""
    import torch

    tokenflow_py = importlib.import_module("llava_t2i.model.multimodal_encoder.tokenflow")
    vq_mod, clip_mod = sys.modules["tokenizer.vq_model"], sys.modules["tokenizer.clip.clip"]
    from llava_t2i.model import LlavaConfig, LlavaLlamaForCausalLM

    root = Path.cwd()
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(vq_mod.VQ_models, "TokenFlow", tiny_tokenflow(vq_mod))
        mp.setattr(clip_mod, "_download", local_clip_file)
        torch.manual_seed(0)
        write_clip_vit_b16(sys.modules["tokenizer.clip.model"], root / "clip_model" / "ViT-B-16.pt")
        vq = save_like_vq_train(tokenflow_py.tokenflow_model("TokenFlow"), root / "tokenflow_clipb_tiny.pt")
        ckpt = root / "TokenFlow-t2i-tiny"
        write_vq_token_tokenizer(ckpt)
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(ckpt, use_fast=False)
        cfg = LlavaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=2048,
                          initializer_range=0.2, bos_token_id=1, eos_token_id=2, pad_token_id=tok.pad_token_id,
                          tokenizer_model_max_length=1024, tokenizer_padding_side="right", mm_vision_tower=str(vq),
                          mm_vision_vq_type="TOKEN_FLOW", mm_projector_type="mlp2x_gelu", mm_use_vq_token=True,
                          mm_use_im_start_end=False, vq_codebook_size=VQ_CODES, use_cache=False)
        torch.manual_seed(1)
        with torch.serialization.safe_globals([argparse.Namespace]):  # upstream's torch.load of our file
            model = LlavaLlamaForCausalLM(cfg)
        model.config.mm_vision_vq_type = "TOKEN_FLOW"  # train.py:282 stores the name
        model.save_pretrained(ckpt)
        yield ckpt, vq


@pytest.fixture(scope="module")
def i2t(repo, tmp_path_factory):
    """(checkpoint folder, tokenizer file, hub cache) of a tiny TokenFlow LLaVA-Qwen; the tiny SigLIP is
    in the hub cache under google/siglip-so400m-patch14-384 for the module."""
    import torch
    from transformers import SiglipConfig, SiglipModel

    from tests.tiny_models import _bpe_tokenizer, _fast_tokenizer

    root = tmp_path_factory.mktemp("tokenflow_i2t")
    hub = root / "hub"
    torch.manual_seed(0)
    SiglipModel(SiglipConfig(
        text_config=dict(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=16),
        vision_config=dict(hidden_size=1152, intermediate_size=64, num_hidden_layers=2, num_attention_heads=16,
                           image_size=384, patch_size=14))).save_pretrained(root / "siglip")
    up.hub_cache_model(hub, "google/siglip-so400m-patch14-384", root / "siglip")
    with up.hub_cache(hub), pytest.MonkeyPatch.context() as mp:
        tokenflow_vq = importlib.import_module("llava.model.multimodal_encoder.tokenflow_vq")
        vq_mod = sys.modules["tokenflow.tokenizer.vq_model"]
        mp.setitem(vq_mod.VQ_models, "TokenFlow", tiny_tokenflow(vq_mod))
        from llava.model.language_model.llava_qwen import LlavaQwenConfig, LlavaQwenForCausalLM

        vq = save_like_vq_train(tokenflow_vq.tokenflow_model("TokenFlow", codebook_size=VQ_CODES, teacher="siglip_384"),
                                root / "tokenflow_siglip_tiny.pt")
        specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        tok = _fast_tokenizer(_bpe_tokenizer(specials), "Qwen2TokenizerFast", eos_token="<|im_end|>",
                              pad_token="<|endoftext|>")
        ckpt = root / "Tokenflow-llava-qwen2.5-tiny"  # the builder picks LlavaQwen from "llava" + "qwen"
        tok.save_pretrained(ckpt)
        ids = {t: tok.convert_tokens_to_ids(t) for t in specials}
        cfg = LlavaQwenConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                              initializer_range=0.2, tie_word_embeddings=False, bos_token_id=ids["<|endoftext|>"],
                              eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
                              # i2t/scripts/v1_5/train.sh (finetune stage)
                              mm_vision_tower=str(vq), mm_vision_vq_type="TOKENFLOW", mm_projector_type="mlp2x_gelu",
                              mm_vision_select_layer=-2, mm_use_im_start_end=False, mm_use_im_patch_token=False,
                              image_aspect_ratio="pad", mm_patch_merge_type="flat", tokenizer_model_max_length=2048)
        torch.manual_seed(1)
        with torch.serialization.safe_globals([argparse.Namespace]):
            model = LlavaQwenForCausalLM(cfg)
        with torch.no_grad():
            model.lm_head.weight[ids["<|im_end|>"]] = 0.0  # answers do not end at once
        model.config.mm_vision_vq_type = "TOKENFLOW"
        model.half().save_pretrained(ckpt)
        # as released: the config names the tokenizer file by a path of the authors' machines
        released = root / "Tokenflow-llava-qwen2.5-tiny-released"
        shutil.copytree(ckpt, released)
        cfg_file = released / "config.json"
        cfg_file.write_text(json.dumps(dict(json.loads(cfg_file.read_text()),
                                            mm_vision_tower="/cluster/ckpts/tokenflow_siglip_32k.pt")))
        yield ckpt, released, vq


# ------------------------------------------------------------------------------------------ generation
def _run_llava_samples(repo: Path, ckpt: Path, vq: Path, precision: str, out: Path) -> Path:
    wrapper = (
        "import os, runpy, sys, torch\n"
        f"sys.path[:0] = [{str(repo / 't2i')!r}, {str(WORKTREE)!r}]\n"
        "torch.set_num_threads(1)\n"
        "import llava_t2i.model.multimodal_encoder.tokenflow\n"
        "from tests.test_upstream_tokenflow import tiny_tokenflow, local_clip_file\n"
        "vq_mod = sys.modules['tokenizer.vq_model']\n"
        "vq_mod.VQ_models['TokenFlow'] = tiny_tokenflow(vq_mod)\n"
        "sys.modules['tokenizer.clip.clip']._download = local_clip_file\n"
        "torch.nn.Module.cuda = lambda self, *a, **k: self  # run_llava_samples.py:64 on a CUDA-less machine\n"
        # upstream's own torch.load (weights_only by default on torch >= 2.6) refuses the Namespace its
        # training script stores, exactly as the plugin would without its allow-list
        "import argparse\n"
        "torch.serialization.add_safe_globals([argparse.Namespace])\n"
        "import llava_t2i.dataset.process as process\n"
        "from llava_t2i.model import LlavaLlamaForCausalLM\n"
        "encode, infer = process.crop_and_encode_text_and_img, LlavaLlamaForCausalLM.autoregressive_infer_cfg\n"
        "NEGATIVE = " + repr(_plugin_cls().default_args["negative_prompt"]) + "\n"
        "def our_prompt(tokenizer, text, image, max_text_token_num):\n"
        f"    return encode(tokenizer, text if text == NEGATIVE else {PROMPT!r}, image, max_text_token_num)\n"
        "process.crop_and_encode_text_and_img = our_prompt\n"
        "class FirstImageDone(Exception):\n"
        "    pass\n"
        "def seeded_infer(self, *a, **k):\n"
        "    if getattr(seeded_infer, 'done', False):\n"
        "        raise FirstImageDone\n"
        "    seeded_infer.done = True\n"
        f"    torch.manual_seed({SEED})\n"
        "    return infer(self, *a, **k)\n"
        "LlavaLlamaForCausalLM.autoregressive_infer_cfg = seeded_infer\n"
        "sys.argv = ['run_llava_samples.py'] + sys.argv[1:]\n"
        "try:\n"
        f"    runpy.run_path({str(repo / 't2i/llava_t2i/eval/run_llava_samples.py')!r}, run_name='__main__')\n"
        "except FirstImageDone:\n"
        "    pass\n"
    )
    args = ["--model-path", str(ckpt), "--tokenizer-path", str(vq), "--output-path", str(out), "--cfg", "7.5",
            "--loop", "1", "--mixed_precision", precision, "--batch_size", "1"]  # run_t2i.sh, one image a batch
    proc = subprocess.run([sys.executable, "-c", wrapper, *args], cwd=Path.cwd(), capture_output=True, text=True,
                          timeout=900, env=dict(os.environ, PYTHONPATH=str(repo / "t2i")))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "loop1_cfg7.5" / "sample_0_0.png"


@pytest.mark.parametrize("dtype,precision", [("float32", "none"), ("bfloat16", "bf16")])
def test_images_equal_run_llava_samples(repo, t2i, dtype, precision, tmp_path):
    from PIL import Image

    ckpt, vq = t2i
    a = _plugin_cls()(pretrained=str(ckpt), tokenizer_path=str(vq), code_path=str(repo), dtype=dtype)
    ours = a.generate_images([GenRequest("a", PROMPT, n=2, seed=SEED, width=256, height=256)])[0]
    theirs = np.asarray(Image.open(_run_llava_samples(repo, ckpt, vq, precision, tmp_path / "gen")).convert("RGB"))
    assert theirs.shape == (256, 256, 3) and theirs.std() > 1.0
    assert np.array_equal(np.asarray(ours[0]), theirs)
    assert not np.array_equal(np.asarray(ours[1]), theirs)  # image k is drawn with seed + k
    info = a.info()
    assert info["dtype"] == dtype and info["code"].startswith("git:9812da01c069")
    s = info["settings"]
    assert (s["cfg"], s["topk_list"], s["topp_list"], s["max_text_tokens"]) == (7.5, [600], [0.6], 128)
    a.close()


# --------------------------------------------------------------------------------------- understanding
@pytest.fixture(scope="module")
def lmms_eval_llava(repo):
    """lmms-eval@7f9c482's ``Llava`` model class (lmms_eval/models/llava.py), imported from its checkout."""
    path = up.checkout("lmms-eval", LMMS_EVAL_COMMIT)
    missing = [m for m in LMMS_EVAL_IMPORTS if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"lmms-eval's llava model imports {', '.join(missing)}: pip install {' '.join(missing)}")
    saved = os.environ.get("HF_HUB_ENABLE_HF_TRANSFER")
    sys.path.insert(0, str(path))
    try:
        llava_model = importlib.import_module("lmms_eval.models.llava")  # sets HF_HUB_ENABLE_HF_TRANSFER
        yield llava_model.Llava, importlib.import_module("lmms_eval.api.instance").Instance
    finally:
        up.forget_modules(path)
        if saved is None:
            os.environ.pop("HF_HUB_ENABLE_HF_TRANSFER", None)
        else:
            os.environ["HF_HUB_ENABLE_HF_TRANSFER"] = saved


def test_answers_equal_lmms_eval_llava(repo, i2t, face, lmms_eval_llava):
    """The plugin on the released-style checkpoint (tokenizer given as und_tokenizer_path) answers as
    lmms-eval's llava model (conv_template=qwen_2_5, GETTING_STARTED.md:100) on the same weights."""
    from PIL import Image

    ckpt, released, vq = i2t
    Llava, Instance = lmms_eval_llava
    a = _plugin_cls()(und_pretrained=str(released), und_tokenizer_path=str(vq), code_path=str(repo))
    question = "Is she smiling?"
    ours = a.answer([ChatRequest("d", str(face), ({"role": "user", "content": question},), {"max_new_tokens": 12})])
    import torch

    # upstream's torch.load (weights_only by default on torch >= 2.6) refuses the Namespace its training
    # script stores, exactly as the plugin would without its allow-list
    with torch.serialization.safe_globals([argparse.Namespace]):
        lm = Llava(pretrained=str(ckpt), device="cpu", device_map="auto", conv_template="qwen_2_5")
    lm.task_dict = {"faces": {"test": [{"image": Image.open(face).convert("RGB")}]}}
    args = (question, {"max_new_tokens": 12}, lambda doc: [doc["image"]], 0, "faces", "test")
    request = Instance("generate_until", args, 0, metadata={"task": "faces", "doc_id": 0, "repeats": 1})
    theirs = lm.generate_until([request])
    assert ours == [theirs[0].strip()] and ours[0]
    info = a.info()
    assert info["understanding_dtype"] == "float16"  # builder.py:43, as lmms-eval's pixels (llava.py:338)
    assert (info["settings"]["conv_mode"], info["settings"]["attn_implementation"]) == ("qwen_2_5", "sdpa")
    a.close()


def test_understanding_without_the_tokenizer_file_names_the_argument(repo, i2t, face):
    """The released config's tokenizer path does not exist here; with the plugin's argument pointing
    nowhere, the error names that argument instead of upstream's assert in VQTower.load_model."""
    from facebench.errors import FacebenchError

    _, released, _ = i2t
    a = _plugin_cls()(und_pretrained=str(released), und_tokenizer_path=str(Path.cwd() / "missing.pt"),
                      code_path=str(repo))
    with pytest.raises(FacebenchError, match="und_tokenizer_path"):
        a.answer([ChatRequest("d", str(face), ({"role": "user", "content": "Is she smiling?"},), {})])
