"""``openai-api``: any OpenAI-compatible endpoint — chat completions with image input for
understanding (GPT-4o, vLLM, Ollama, llama.cpp server...) and the images API for generation
(DALL-E 3, gpt-image-1, ...).

Calls go through the judge's ``JudgeClient`` (facebench/judge/client.py): bounded concurrency,
retries with exponential backoff + jitter on 429/5xx/timeouts/dropped connections, fatal stop on
401/403/404. A call that still fails is returned as an empty answer / no images, which the runner
records as a failed item (never cached, never scored) — except fatal errors, which abort.

The API key is read from the environment variable named by ``api_key_env`` at call time and is
never stored in ``model_args``, the fingerprint, results or logs; passing ``api_key=`` is refused.
Replies and error texts are redacted (``facebench.redact``) before they become answers, errors
or log lines, so a server that echoes the ``Authorization`` header cannot plant the key in them.

model_args:
  model            chat model for understanding (e.g. gpt-4o-2024-08-06); omit for generation-only
  image_model      images-API model for generation (e.g. dall-e-3); omit for understanding-only
  base_url         endpoint (default: $OPENAI_BASE_URL or https://api.openai.com/v1)
  api_key_env      environment variable holding the key (default OPENAI_API_KEY; loopback
                   servers may run without one)
  concurrency      requests in flight (default 4);  max_retries (6);  timeout seconds (120)
  max_new_tokens   default answer length (a request's params win; default 256)
  temperature      default 0 (greedy where the server honours it)
  system_prompt    optional system message
  image_detail     auto | low | high (vision input detail; default auto)
  image_size       size sent to the images API (default 1024x1024; images are resized to the
                   request's width×height afterwards)
  quality, style   images-API options (DALL-E 3: standard|hd, vivid|natural); omitted if unset
  seed             sent to the chat API where supported (best effort; OpenAI documents it as
                   best-effort determinism); the images API has no seed: generation is not reproducible
"""
from __future__ import annotations

import base64
import io
import os
from typing import Any, ClassVar

from facebench.adapters.base import ModelAdapter
from facebench.errors import FacebenchError
from facebench.redact import redact, register_key_env
from facebench.types import ChatRequest, GenRequest

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_SECRET_KEYS = ("api_key", "key", "openai_api_key", "token")


def image_data_url(image) -> str:
    """A PIL image as a ``data:image/png;base64,...`` URL (lossless: the model sees the real pixels)."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def png_file_data_url(path) -> str | None:
    """The file's own bytes as a data URL when it is an 8-bit RGB PNG without a transparency chunk
    (colour type 2, bit depth 8, no tRNS: every PNG decoder yields the very pixels Pillow does),
    else None. Saves a decode + re-encode per call: at serving speed that PNG encoding, not the
    server, bounds calls/s (benchmarks/bench_openai_adapter.py)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (OSError, TypeError):
        return None
    if len(data) < 33 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR" or data[24:26] != b"\x08\x02":
        return None
    pos = 8
    while pos + 8 <= len(data):  # chunks before the image data: refuse a colour-key transparency
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            break
        if kind == b"tRNS":
            return None
        pos += 12 + int.from_bytes(data[pos : pos + 4], "big")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _is_loopback(url: str) -> bool:
    from urllib.parse import urlparse

    host = (urlparse(url).hostname or "").lower()
    return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")


class OpenAIAPIAdapter(ModelAdapter):
    name: ClassVar[str] = "openai-api"
    capabilities: ClassVar[frozenset[str]] = frozenset({"generate", "understand"})
    requires: ClassVar[tuple[str, ...]] = ("openai",)
    description: ClassVar[str] = "any OpenAI-compatible chat (image input) and images API endpoint"
    default_args: ClassVar[dict[str, Any]] = {}
    extra_model_args: ClassVar[tuple[str, ...]] = (
        "model", "image_model", "base_url", "api_key_env", "concurrency", "max_retries", "timeout", "retry_base_delay",
        "max_new_tokens", "temperature", "system_prompt", "image_detail", "image_size", "quality", "style", "seed")

    @classmethod
    def check_model_args(cls, model_args: dict[str, Any]) -> None:
        """A key passed as a model arg is refused with its own message (before the unknown-key check)."""
        secret = [k for k in model_args if str(k).lower() in _SECRET_KEYS]
        if secret:
            raise FacebenchError(f"do not pass '{secret[0]}' in --model_args (it would be recorded with the results); "
                                 "put the key in an environment variable and pass api_key_env=NAME")
        super().check_model_args(model_args)

    def __init__(self, device: str = "cpu", **model_args: Any):
        self.check_model_args(model_args)
        args = {**self.default_args, **model_args}
        super().__init__(device=device, **args)
        self.model = args.get("model")
        self.image_model = args.get("image_model")
        if not self.model and not self.image_model:
            raise FacebenchError(f"model '{self.name}' needs --model_args model=<chat model> "
                                 "and/or image_model=<images model>")
        self.base_url = str(args.get("base_url") or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.api_key_env = str(args.get("api_key_env") or "OPENAI_API_KEY")
        register_key_env(self.api_key_env)  # its value is redacted from everything written or logged
        self.concurrency = int(args.get("concurrency", 4))
        self.max_retries = int(args.get("max_retries", 6))
        self.timeout = float(args.get("timeout", 120.0))
        self.retry_base_delay = float(args.get("retry_base_delay", 1.0))
        self.max_new_tokens = int(args.get("max_new_tokens", 256))
        import math

        if not (self.concurrency >= 1 and self.max_retries >= 0 and math.isfinite(self.timeout) and self.timeout > 0
                and self.retry_base_delay >= 0 and self.max_new_tokens >= 1):
            raise FacebenchError(f"model '{self.name}': concurrency must be ≥ 1, max_retries ≥ 0, timeout a positive "
                                 "number of seconds, retry_base_delay ≥ 0 and max_new_tokens ≥ 1")
        # Instance-level capabilities: what this configuration can actually do.
        self.capabilities = frozenset(c for c, ok in (("understand", bool(self.model)), ("video", bool(self.model)),
                                                      ("generate", bool(self.image_model))) if ok)
        self.usage: dict[str, int] = {}
        self.errors: list[str] = []

    # -- identity -------------------------------------------------------------------------------
    speed_only_args: ClassVar[tuple[str, ...]] = ("batch_size", "concurrency", "max_retries", "timeout", "retry_base_delay",
                                                   "api_key_env")

    def fingerprint_extra(self) -> dict[str, Any]:
        return {"base_url": self.base_url}  # the endpoint decides which weights answer

    def weights_revision(self) -> str:
        # A hosted model has no hash we can see: pin dated model names (gpt-4o-2024-08-06) instead.
        return f"api:{self.model or ''}|{self.image_model or ''}"

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"backend": self.name, "base_url": self.base_url, "model": self.model,
                               "image_model": self.image_model, "api_key_env": self.api_key_env,
                               "usage": dict(self.usage)}
        if self.image_model:
            out["generation_reproducible"] = False  # the images API takes no seed
        if self.errors:
            out["errors"] = self.errors[:20]
        return out

    # -- plumbing -------------------------------------------------------------------------------
    def _client(self):
        from facebench.judge.client import JudgeClient

        key = os.environ.get(self.api_key_env)
        if not key and not _is_loopback(self.base_url):
            raise FacebenchError(f"no API key for {self.base_url}: export {self.api_key_env}=... "
                                 f"(or pass api_key_env=<VARIABLE NAME>)")
        return JudgeClient(self.base_url, key, concurrency=self.concurrency, timeout=self.timeout,
                           max_retries=self.max_retries, retry_base_delay=self.retry_base_delay)

    def _account(self, client) -> None:
        for k, v in client.usage.as_dict().items():
            self.usage[k] = self.usage.get(k, 0) + int(v)
        if client.fatal:
            raise FacebenchError(redact(f"{self.name} ({self.base_url}): {client.fatal}"))

    # -- understanding --------------------------------------------------------------------------
    def _chat_request(self, req: ChatRequest) -> dict[str, Any]:
        messages: list[dict[str, Any]] = []
        system = self.model_args.get("system_prompt")
        if system and not any(m["role"] == "system" for m in req.messages):
            messages.append({"role": "system", "content": system})
        attached = req.image is None and req.video is None
        for m in req.messages:
            if not attached and m["role"] == "user" and req.video is not None:
                from facebench.adapters.video_frames import frames_as_image_parts

                parts = frames_as_image_parts(req.load_video(), self.model_args.get("image_detail", "auto"))
                messages.append({"role": "user", "content": [*parts, {"type": "text", "text": m["content"]}]})
                attached = True
            elif not attached and m["role"] == "user":
                image = req.load_image()  # checks the file (corrupt, too large) as before
                url = png_file_data_url(req.image) or image_data_url(image)
                detail = self.model_args.get("image_detail", "auto")
                messages.append({"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": url, "detail": detail}},
                    {"type": "text", "text": m["content"]},
                ]})
                attached = True
            else:
                messages.append({"role": m["role"], "content": m["content"]})
        p = req.params
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": int(p.get("max_new_tokens", self.max_new_tokens)),
            "temperature": float(p.get("temperature", self.model_args.get("temperature", 0.0))),
        }
        seed = p.get("seed", self.model_args.get("seed"))
        if seed is not None:
            body["seed"] = int(seed)
        return body

    def answer(self, reqs: list[ChatRequest]) -> list[str]:
        if not reqs:
            return []
        if not self.model:
            raise FacebenchError(f"model '{self.name}' was configured without model=<chat model>: it cannot answer")
        client = self._client()
        results = client.chat_many([self._chat_request(r) for r in reqs])
        self._account(client)
        out = []
        for r, res in zip(reqs, results):
            if res.error or not (res.content or "").strip():
                self.errors.append(redact(f"{r.doc_id}: {res.error or 'empty reply'}"))
                out.append("")
            else:
                out.append(redact(res.content.strip()))  # already redacted by the client; cheap to be sure
        return out

    # -- generation -----------------------------------------------------------------------------
    def _image_request(self, req: GenRequest) -> dict[str, Any]:
        size = req.params.get("image_size", self.model_args.get("image_size", "1024x1024"))
        body: dict[str, Any] = {"model": self.image_model, "prompt": req.prompt, "n": 1, "size": str(size),
                                "response_format": "b64_json"}
        for key in ("quality", "style"):
            value = req.params.get(key, self.model_args.get(key))
            if value is not None:
                body[key] = value
        return body

    @staticmethod
    async def _generate_one(oc: Any, body: dict[str, Any]):
        from PIL import Image

        from facebench.judge.client import _BadResponse  # retryable: a 200 without a usable image

        resp = await oc.images.generate(**body)
        data = getattr(resp, "data", None) or []
        b64 = getattr(data[0], "b64_json", None) if data else None
        if not b64:
            raise _BadResponse("images reply has no data[0].b64_json")
        try:
            img = Image.open(io.BytesIO(base64.b64decode(b64)))
            img.load()
        except Exception as e:  # noqa: BLE001 - a truncated/garbled image is retried
            raise _BadResponse(f"undecodable image: {e}") from None
        return img.convert("RGB")

    def generate_images(self, reqs: list[GenRequest]) -> list[list[Any]]:
        from PIL import Image

        if not reqs:
            return []
        if not self.image_model:
            raise FacebenchError(f"model '{self.name}' was configured without image_model=<images model>: "
                                 "it cannot generate")
        # One call per image: DALL-E 3 accepts only n=1.
        jobs = [(i, self._image_request(r)) for i, r in enumerate(reqs) for _ in range(r.n)]
        client = self._client()
        outcomes = client.map([b for _, b in jobs], self._generate_one)
        self._account(client)
        got: list[list[Any]] = [[] for _ in reqs]
        failed = set()
        for (i, _), oc in zip(jobs, outcomes):
            if not oc.ok or oc.value is None:
                failed.add(i)
                self.errors.append(redact(f"{reqs[i].doc_id}: {oc.error}"))
                continue
            want = (reqs[i].width, reqs[i].height)
            img = oc.value
            got[i].append(img if img.size == want else img.resize(want, Image.LANCZOS))
        # A request with any failed image returns none: the runner records it as failed (not cached).
        return [[] if i in failed else imgs for i, imgs in enumerate(got)]
