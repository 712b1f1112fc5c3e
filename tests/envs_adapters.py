"""Adapters for the environment/worker tests. They live in an importable module (not a test file)
because a worker imports its adapter class by module and name, in another process.

* ``FaultyAdapter``: dummy outputs plus faults on chosen doc ids (raise, crash, hang, write to the
  protocol pipe, print to stdout), each fault optionally once (a marker file), and a calls log.
* ``LocalEnvAdapter``: declares an environment with no requirements, an upstream repository and an
  extra file, named by environment variables the test sets (so every process sees the same spec).
* ``Tf457Janus``: transformers' Janus through the real ``janus`` adapter, in an environment pinned to
  transformers 4.57.6 while facebench's own has 5.x (the CI test of a real isolated environment).
"""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

from facebench.adapters.dummy import DummyAdapter
from facebench.adapters.hf_vlm import HFVLMAdapter
from facebench.adapters.janus import JanusAdapter
from facebench.envs.spec import EnvSpec, ExtraFile, UpstreamCode
from facebench.errors import FacebenchError

TF_FLOOR = "4.57.6"


def samples_file(run_dir: Path, task: str) -> Path:
    """``samples_<task>.jsonl``, or the newest ``samples_<task>_<stamp>.jsonl`` (one file per run)."""
    found = sorted(run_dir.glob(f"samples_{task}_*.jsonl")) or [run_dir / f"samples_{task}.jsonl"]
    return found[-1]


def _docs(value: Any) -> set[str]:
    return {d for d in str(value or "").split("|") if d}


class FaultyAdapter(DummyAdapter):
    name: ClassVar[str] = "faulty"

    def __init__(self, device: str = "cpu", fail_docs: str = "", crash_docs: str = "", hang_docs: str = "",
                 garbage_docs: str = "", fatal_docs: str = "", once_dir: str = "", calls_log: str = "",
                 delay: float = 0.0, noisy: bool = False, **kw: Any):
        super().__init__(device=device, fail_docs=fail_docs, crash_docs=crash_docs, hang_docs=hang_docs,
                         garbage_docs=garbage_docs, fatal_docs=fatal_docs, once_dir=once_dir, calls_log=calls_log,
                         delay=delay, noisy=noisy, **kw)
        self.fail, self.crash, self.hang = _docs(fail_docs), _docs(crash_docs), _docs(hang_docs)
        self.garbage, self.fatal = _docs(garbage_docs), _docs(fatal_docs)
        self.once_dir, self.calls_log, self.delay, self.noisy = once_dir, calls_log, float(delay), noisy

    def _first_time(self, what: str, doc: str) -> bool:
        """True unless ``once_dir`` already holds this fault's marker (then the fault is skipped)."""
        if not self.once_dir:
            return True
        marker = Path(self.once_dir) / f"{what}-{doc}"
        if marker.exists():
            return False
        marker.write_text("x")
        return True

    def _faults(self, reqs: list[Any]) -> None:
        if self.calls_log:
            with open(self.calls_log, "a") as f:
                for r in reqs:
                    f.write(f"{os.getpid()} {r.doc_id}\n")
        if self.noisy:
            print("noise on sys.stdout")
            os.write(1, b"noise on fd 1\n")
        time.sleep(self.delay)
        for r in reqs:
            if r.doc_id in self.crash and self._first_time("crash", r.doc_id):
                os.kill(os.getpid(), signal.SIGKILL)
            if r.doc_id in self.hang and self._first_time("hang", r.doc_id):
                time.sleep(3600)
            if r.doc_id in self.garbage and self._first_time("garbage", r.doc_id):
                from facebench.envs import worker_main

                assert worker_main._PROTO_FD is not None
                os.write(worker_main._PROTO_FD, b"GARBAGE!" * 4)
            if r.doc_id in self.fail:
                raise ValueError(f"cannot do {r.doc_id}")
            if r.doc_id in self.fatal:
                raise FacebenchError(f"model 'faulty': weights missing for {r.doc_id}; fix: pass pretrained=PATH")

    def generate_images(self, reqs):
        self._faults(reqs)
        return super().generate_images(reqs)

    def answer(self, reqs):
        self._faults(reqs)
        return [f"answer to {r.question} ({r.doc_id})" for r in reqs]


def _local_spec() -> EnvSpec:
    up = os.environ.get("FBTEST_UPSTREAM_COMMIT")
    url = os.environ.get("FBTEST_FILE_URL")
    return EnvSpec(
        name="fbtest-local", requirements=(),
        upstream=UpstreamCode(repo="https://example.invalid/fbtest/fbtest-upstream", commit=up, subdirs=("src",))
        if up else None,
        files=(ExtraFile(name="weights/tower.bin", source=url, sha256=os.environ.get("FBTEST_FILE_SHA") or None,
                         model_arg="tower"),
               # no model_arg: research code reads it relative to its working folder
               ExtraFile(name="cwd_data/tower.bin", source=url, sha256=os.environ.get("FBTEST_FILE_SHA") or None))
        if url else (),
    )


class LocalEnvAdapter(DummyAdapter):
    """Answers with what it sees in its environment: the upstream module's VALUE, the extra file's
    bytes, and the Python prefix it runs in."""

    name: ClassVar[str] = "fbtest-local"
    environment: ClassVar[EnvSpec | None] = _local_spec()

    def answer(self, reqs):
        try:
            import fbtest_upstream_code as up  # on sys.path only in the worker (the upstream checkout)

            value = up.VALUE
        except ImportError:
            value = "no upstream"
        tower = self.model_args.get("tower")
        blob = Path(tower).read_bytes().decode() if tower else "no file"
        rel = Path("cwd_data/tower.bin")
        here = rel.read_bytes().decode() if rel.exists() else "no relative file"
        return [f"{value}|{blob}|{sys.prefix}|{os.environ.get('FACEBENCH_ENV_NAME')}|{here}" for _ in reqs]


class Tf457Janus(JanusAdapter):
    """The real ``janus`` adapter in an environment pinned to transformers 4.57.6."""

    name: ClassVar[str] = "janus-tf457"
    environment: ClassVar[EnvSpec | None] = EnvSpec(name="fbtest-tf457", requirements=(f"transformers=={TF_FLOOR}",))


class Tf457LLaVA(HFVLMAdapter):
    """The real ``hf-vlm`` adapter (LLaVA-1.5 layout) in the same transformers 4.57.6 environment."""

    name: ClassVar[str] = "hf-vlm-tf457"
    environment: ClassVar[EnvSpec | None] = Tf457Janus.environment


def build_tiny_janus_floor(path: str | Path, seed: int = 0) -> Path:
    """tests/tiny_models.build_tiny_janus with the tokenizer class transformers 4.57's
    JanusProcessor insists on (``LlamaTokenizerFast``). For image generation only: 4.57's
    processor expands an image to 576 placeholders whatever the model's size (REFERENCE §4), so
    understanding would need 48 px images at patch 2, whose 576-step generation is too slow for CI."""
    import torch
    from transformers import (
        JanusConfig,
        JanusForConditionalGeneration,
        JanusImageProcessor,
        JanusProcessor,
        LlamaConfig,
        LlamaTokenizerFast,
    )

    from tests.tiny_models import JANUS_CHAT_TEMPLATE, JANUS_SPECIALS, _bpe_tokenizer

    path = Path(path)
    s = JANUS_SPECIALS
    tok = LlamaTokenizerFast(tokenizer_object=_bpe_tokenizer(s), model_input_names=["input_ids", "attention_mask"],
                             padding_side="left", bos_token=s[0], eos_token=s[1], pad_token=s[2],
                             extra_special_tokens={"image_token": s[3], "boi_token": s[4], "eoi_token": s[5]})
    text = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                       initializer_range=0.2, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                       pad_token_id=tok.pad_token_id)
    vision = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, image_size=32, patch_size=8,
                  projection_dim=32, mlp_ratio=2.0, num_image_tokens=16, depth=2)
    vq = dict(embed_dim=8, num_embeddings=64, latent_channels=32, base_channels=32, channel_multiplier=[1, 2],
              num_res_blocks=1, projection_dim=32, image_token_embed_dim=32, num_hidden_layers=1)
    cfg = JanusConfig(text_config=text.to_dict(), vision_config=vision, vq_config=vq,
                      image_token_id=tok.convert_tokens_to_ids(s[3]))
    torch.manual_seed(seed)
    model = JanusForConditionalGeneration(cfg).eval()
    model.generation_config.pad_token_id = tok.pad_token_id
    proc = JanusProcessor(image_processor=JanusImageProcessor(size={"height": 32, "width": 32}, min_size=8),
                          tokenizer=tok, chat_template=JANUS_CHAT_TEMPLATE, num_image_tokens=16)
    model.save_pretrained(path)
    proc.save_pretrained(path)
    return path


if __name__ == "__main__":  # python -m tests.envs_adapters build-floor-models DIR (with the env's Python)
    if sys.argv[1] == "build-floor-models":
        from tests.tiny_models import build_tiny_llava

        build_tiny_janus_floor(Path(sys.argv[2]) / "janus")
        build_tiny_llava(Path(sys.argv[2]) / "llava")
