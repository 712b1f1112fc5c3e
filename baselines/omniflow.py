"""OmniFlow (3.4B any-to-any rectified-flow model built on SD3) via its research code.

Code: https://github.com/jacklishufan/OmniFlows, pinned at commit b17e2a8 (``pip install -e .`` in
the clone, or ``code_path=/path/to/OmniFlows``), package ``omniflow``; see ``environment`` — the
package does not import on diffusers 0.42 (its modules rely on names older diffusers re-exported)
and imports ``deepspeed``, ``librosa`` and ``torchaudio`` at module level.

Loading: ``OmniFlowPipeline.load_pretrained(path, device=...)`` joins file names onto ``path``
(omniflow_pipeline.py:194-306), so it needs a local folder: a hub id (the default
``jacklishufan/OmniFlow-v0.5``) is first brought into the hub cache with ``snapshot_download``
(offline: it must already be there). ``load_pretrained`` itself also loads
``laion/CLIP-ViT-L-14-DataComp.XL-s13B-b90K``, ``google/flan-t5-large``,
``LanguageBind/LanguageBind_Audio_FT`` and ``cvssp/audioldm2`` (vae) by hub id.

Settings (upstream's, recorded in results through ``info()['settings']``):

- text→image as the README's example (readme.MD:37-40): ``pipeline.cfg_mode = 'new'``, 512×512,
  ``add_token_embed=0``, ``task='t2i'``; steps and guidance are the pipeline's defaults, 28 and 7.0
  (omniflow_pipeline.py:843-845);
- image→text (captioning) as the pipeline's own image→text call (omniflow_pipeline.py:984): 512×512,
  ``add_token_embed=1``, ``guidance_scale=2``, ``task='i2t'``, 28 steps (default), and the caption
  is the first text with ``<s>``/``</s>`` removed, as it does (omniflow_pipeline.py:988).

OmniFlow's understanding is captioning only: the question is not given to the model, so its
answers to VQA questions are captions (the paper reports no Conv score for OmniFlow — "–"). Its
text decoder calls ``.cuda()`` on its inputs (omniflow/models/text_vae.py:340-341), so captioning
needs a CUDA device; elsewhere it fails with one line saying so.
Global RNGs are seeded with ``seed + k`` before each image (the pipeline draws its latents from the
global RNG when given no generator, as the README calls it).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from facebench.adapters.research import ResearchAdapter, seeded, to_pil
from facebench.envs.spec import EnvSpec, ExtraFile, UpstreamCode, Verified
from facebench.errors import FacebenchError

from ._helpers import first_image, first_text

OMNIFLOW_COMMIT = "b17e2a8a5efc399870807a51122312bb6f872336"


def caption_text(out: Any) -> str:
    """The caption in an ``i2t`` return value ``(texts, texts_from_prompt)``: the first text, with
    the text VAE's ``<s>``/``</s>`` removed as the pipeline does (omniflow_pipeline.py:988)."""
    return first_text(out).replace("<s>", "").replace("</s>", "").strip()


class OmniFlowAdapter(ResearchAdapter):
    name: ClassVar[str] = "omniflow"
    family: ClassVar[str] = "OmniFlow"
    capabilities: ClassVar[frozenset[str]] = frozenset({"generate", "understand"})
    default_checkpoint: ClassVar[str | None] = "jacklishufan/OmniFlow-v0.5"
    requires: ClassVar[tuple[str, ...]] = ("torch", "omniflow")
    paper_model: ClassVar[str | None] = "OmniFlow"
    description: ClassVar[str] = "OmniFlow v0.5 (research code), t2i 512² 28 steps CFG 7 cfg_mode new; captions only"
    repo_url: ClassVar[str] = "https://github.com/jacklishufan/OmniFlows"
    probe_module: ClassVar[str] = "omniflow"
    reference_dtype: ClassVar[str] = "bfloat16"  # load_pretrained's weight_dtype default (omniflow_pipeline.py:194)
    environment: ClassVar[EnvSpec | None] = EnvSpec(
        name="omniflow",
        python="3.11",
        # requirements.txt: diffusers>=0.31.0, transformers>=4.46.3, einops>=0.8.0, deepspeed>=0.16.0,
        # librosa==0.10.2.post1, numpy==2.1.3 (floors pinned). omniflow/models/encoders.py:442 calls
        # torchaudio.set_audio_backend at import, which torchaudio removed in 2.9: torchaudio 2.8.0,
        # whose compiled part pins torch 2.8.0 — this family needs its own torch.
        requirements=("torch==2.8.0", "torchaudio==2.8.0", "diffusers==0.31.0", "transformers==4.46.3",
                      "tokenizers==0.20.3", "huggingface-hub==0.26.2", "einops==0.8.0", "deepspeed==0.16.0",
                      "librosa==0.10.2.post1", "numpy==2.1.3"),
        upstream=UpstreamCode("https://github.com/jacklishufan/OmniFlows", OMNIFLOW_COMMIT),
        files=(ExtraFile("OmniFlow-v0.5", "hf://jacklishufan/OmniFlow-v0.5", model_arg="pretrained"),),
        verified=Verified(OMNIFLOW_COMMIT, "tiny random OmniFlowTransformerModel + text VAE + CLIP/T5/LanguageBind/"
                                           "audio-VAE stand-ins in a hub-cache folder, loaded by load_pretrained, "
                                           "CPU: t2i equals the README example, i2t equals the pipeline's own i2t "
                                           "call; run on torch 2.14.1 + torchaudio 2.11.1 with set_audio_backend "
                                           "stubbed and Tensor.cuda() as identity for the text decoder "
                                           "(tests/test_upstream_omniflow.py)", "2026-12-01"),
        notes="load_pretrained also pulls laion/CLIP-ViT-L-14-DataComp.XL-s13B-b90K, google/flan-t5-large, "
              "LanguageBind/LanguageBind_Audio_FT and cvssp/audioldm2 from the hub cache by id.",
    )
    default_args: ClassVar[dict[str, Any]] = {
        "resolution": 512,
        "num_inference_steps": 28,
        "guidance_scale": 7.0,
        "add_token_embed": 0,
        "cfg_mode": "new",
        "i2t_steps": 28,
        "i2t_guidance_scale": 2.0,
        "i2t_add_token_embed": 1,
    }

    def _local_checkpoint(self) -> str:
        p = Path(self.pretrained).expanduser()
        if p.is_dir():
            return str(p)
        if p.exists() or self.pretrained.count("/") != 1:
            raise FacebenchError(f"omniflow: pretrained '{self.pretrained}' is neither a checkpoint folder nor a hub id "
                                 "(owner/name)")
        from huggingface_hub import snapshot_download

        return snapshot_download(self.pretrained, revision=self.model_args.get("revision"))

    def _load(self) -> None:
        lib = self.research_module("omniflow")
        self._m_pipe = lib.OmniFlowPipeline.load_pretrained(self._local_checkpoint(), device=self._device,
                                                            weight_dtype=self._dtype)
        self._m_pipe.cfg_mode = str(self.model_args["cfg_mode"])  # readme.MD:39

    def _generate_one(self, prompt: str, seed: int, params: dict[str, Any]):
        import torch

        res = int(self.param(params, "resolution"))
        seeded(seed)
        with torch.inference_mode():
            out = self._m_pipe(prompt, height=res, width=res,
                               num_inference_steps=int(self.param(params, "num_inference_steps")),
                               guidance_scale=float(self.param(params, "guidance_scale")),
                               add_token_embed=int(self.param(params, "add_token_embed")), task="t2i")
        return to_pil(first_image(out))

    def _answer_one(self, image, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
        import torch

        if image is None:
            raise FacebenchError(f"{self.name} captions an image: the request has none")
        res = int(self.param(params, "resolution"))
        seeded(int(params.get("seed", 0)))
        try:
            with torch.inference_mode():
                out = self._m_pipe("", input_img=image, height=res, width=res,
                                   num_inference_steps=int(self.param(params, "i2t_steps")),
                                   guidance_scale=float(self.param(params, "i2t_guidance_scale")),
                                   add_token_embed=int(self.param(params, "i2t_add_token_embed")), task="i2t",
                                   return_embed=False)
        except (AssertionError, RuntimeError) as e:
            if "cuda" in str(e).lower() or "nvidia" in str(e).lower():
                raise FacebenchError(f"{self.name}: captioning needs a CUDA device (OmniFlow's text decoder calls "
                                     f".cuda(), omniflow/models/text_vae.py:340-341): {str(e).splitlines()[0]}") from e
            raise
        return caption_text(out)
