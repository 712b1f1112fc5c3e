"""A real HTTP server on 127.0.0.1 that speaks enough of the OpenAI REST API for the ``openai``
client: ``POST /v1/chat/completions`` (with ``logprobs``/``top_logprobs``), ``POST
/v1/images/generations`` (``b64_json``) and ``GET /v1/models``.

Tests use it instead of mocking the client, so retries, timeouts, dropped connections,
concurrency limits and JSON parsing all go through the real network stack.

Usage::

    def handler(path, body, n):          # n = 0-based index of this request (over all paths)
        if n == 0:
            return StubResponse(status=429, body=error_body("slow down", "rate_limit_exceeded"))
        return chat_completion("Score: 8\\nGood answer.")

    with StubOpenAIServer(handler, latency=0.05) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="sk-test")
        ...
        assert srv.in_flight_max <= 4 and srv.count == 2

``handler`` may return a dict (sent as JSON with status 200) or a ``StubResponse`` for errors,
raw (e.g. truncated) bytes, a delay, a hung connection (``hang=True``: no reply until the server
stops or the client gives up), a dropped connection (``drop=True``: closed without a reply) or a
trickled body (``trickle=1.0``: one byte per second after the headers, as a hostile or broken
server might). A hostile server that echoes the key: the text ``ECHO_AUTH`` anywhere in a reply
body or header value is replaced by the request's ``Authorization`` header, ``ECHO_KEY`` by the
key alone (the header without its ``Bearer `` prefix).
Without a handler the server answers chat requests with a fixed well-formed review and image
requests with solid-colour PNGs of the requested size.

``path`` is the full request path (e.g. ``"/v1/chat/completions"``). A chat completion dict
without a ``usage`` key gets one filled in by the server (whitespace-token counts of the request
messages and of the reply), so cost/usage code sees realistic, input-dependent numbers.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

__all__ = [
    "StubOpenAIServer",
    "StubResponse",
    "chat_completion",
    "image_response",
    "error_body",
    "DEFAULT_REVIEW",
    "ECHO_AUTH",
    "ECHO_KEY",
]

DEFAULT_REVIEW = "8 8\nThe answer matches the reference on every attribute that was asked about."
ECHO_AUTH = "{{AUTHORIZATION}}"  # replaced by the request's Authorization header in replies
ECHO_KEY = "{{API_KEY}}"  # replaced by the key alone (Authorization without "Bearer ")


@dataclass
class StubResponse:
    """A scripted reply. ``raw`` (bytes) wins over ``body`` (dict, sent as JSON)."""

    status: int = 200
    body: dict | None = None
    raw: bytes | None = None
    delay: float = 0.0
    hang: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without any reply ("connection reset")
    trickle: float = 0.0  # seconds between body bytes (0: the body goes out at once)


Handler = Callable[[str, dict, int], "dict | StubResponse"]


def _new_id(prefix: str) -> str:
    return f"{prefix}-{hashlib.sha1(str(time.time_ns()).encode()).hexdigest()[:16]}"


def _lp_entry(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": float(logprob), "bytes": list(token.encode("utf-8"))}


def chat_completion(
    content: str | None,
    model: str = "stub",
    logprobs: list[tuple[str, float, list[tuple[str, float]]]] | None = None,
    usage: dict[str, int] | None = None,
    finish_reason: str = "stop",
) -> dict[str, Any]:
    """A ``chat.completion`` object. ``logprobs``: one ``(token, logprob, [(alt, alt_lp), ...])``
    per generated token; ``usage=None`` lets the server compute one from the request."""
    choice: dict[str, Any] = {
        "index": 0,
        "message": {"role": "assistant", "content": content, "refusal": None},
        "finish_reason": finish_reason,
        "logprobs": None,
    }
    if logprobs is not None:
        choice["logprobs"] = {
            "content": [
                {**_lp_entry(tok, lp), "top_logprobs": [_lp_entry(a, alp) for a, alp in alts]}
                for tok, lp, alts in logprobs
            ],
            "refusal": None,
        }
    out: dict[str, Any] = {
        "id": _new_id("chatcmpl"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "system_fingerprint": "fp_stub",
    }
    if usage is not None:
        out["usage"] = dict(usage)
    return out


def image_response(pil_images: list) -> dict[str, Any]:
    """An ``images.generate`` reply carrying each PIL image as base64 PNG (``b64_json``)."""
    data = []
    for img in pil_images:
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        data.append({"b64_json": base64.b64encode(buf.getvalue()).decode("ascii"), "revised_prompt": None})
    return {"created": int(time.time()), "data": data}


def error_body(message: str, code: str = "server_error", type_: str = "server_error") -> dict[str, Any]:
    """The error envelope the OpenAI API uses (``{"error": {...}}``)."""
    return {"error": {"message": message, "type": type_, "code": code, "param": None}}


def _text_of(content: Any) -> str:
    """Text parts of a message ``content`` (a string or a list of typed parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _fill_usage(body: dict, reply: dict) -> None:
    if reply.get("object") != "chat.completion" or "usage" in reply:
        return
    prompt = sum(len(_text_of(m.get("content")).split()) for m in body.get("messages", []) if isinstance(m, dict))
    completion = sum(len((c.get("message", {}).get("content") or "").split()) for c in reply.get("choices", []))
    reply["usage"] = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _default_handler(path: str, body: dict, n: int) -> dict | StubResponse:
    if path.endswith("/chat/completions"):
        return chat_completion(DEFAULT_REVIEW)
    if path.endswith("/images/generations"):
        from PIL import Image

        size = str(body.get("size") or "")
        w, h = (int(x) for x in size.split("x")) if "x" in size else (256, 256)  # "auto" → 256×256
        seed = hashlib.sha256(str(body.get("prompt", "")).encode()).digest()
        images = [Image.new("RGB", (w, h), tuple(seed[3 * k : 3 * k + 3])) for k in range(int(body.get("n") or 1))]
        return image_response(images)
    return StubResponse(status=404, body=error_body(f"no route {path}", "not_found", "invalid_request_error"))


class StubOpenAIServer:
    """Context manager running a ``ThreadingHTTPServer`` on 127.0.0.1 (free port) in a daemon thread.

    ``latency`` (seconds) is added before every reply. Attributes: ``base_url`` (``http://127.0.0.1:PORT/v1``),
    ``requests`` (list of ``(path, json_body, headers)``, header names lower-cased), ``count`` (requests received),
    ``in_flight_max`` (most requests being handled at the same time).
    """

    def __init__(self, handler: Handler | None = None, latency: float = 0.0):
        self.handler: Handler = handler or _default_handler
        self.latency = float(latency)
        self.requests: list[tuple[str, dict, dict[str, str]]] = []
        self.count = 0
        self.in_flight = 0
        self.in_flight_max = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> "StubOpenAIServer":
        stub = self

        class _RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like real API servers
            disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                stub._handle(self, "GET")

            def do_POST(self) -> None:
                stub._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _RequestHandler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release hung/delayed handlers, stop accepting, close the socket, join the thread."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "StubOpenAIServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- helpers for tests ----------------------------------------------------------------------
    def paths(self) -> list[str]:
        with self._lock:
            return [p for p, _, _ in self.requests]

    def reset(self) -> None:
        """Forget recorded requests and counters (the handler's ``n`` restarts at 0)."""
        with self._lock:
            self.requests.clear()
            self.count = 0
            self.in_flight_max = self.in_flight

    # -- request handling -----------------------------------------------------------------------
    def _handle(self, rh: BaseHTTPRequestHandler, method: str) -> None:
        length = int(rh.headers.get("Content-Length") or 0)
        raw_body = rh.rfile.read(length) if length else b""
        try:
            body = json.loads(raw_body) if raw_body else {}
        except json.JSONDecodeError:
            body = {"_raw": raw_body.decode("utf-8", "replace")}
        path = rh.path.split("?", 1)[0]
        with self._lock:
            n = self.count
            self.count += 1
            self.requests.append((path, body, {k.lower(): v for k, v in rh.headers.items()}))
            self.in_flight += 1
            self.in_flight_max = max(self.in_flight_max, self.in_flight)
        try:
            if method == "GET" and path == "/_stub/stats":  # for a server run in another process
                with self._lock:
                    reply = {"count": self.count, "in_flight_max": self.in_flight_max}
            elif method == "GET" and path.endswith("/models"):
                reply: dict | StubResponse = {"object": "list", "data": [{"id": "stub", "object": "model", "created": 0, "owned_by": "stub"}]}
            else:
                try:
                    reply = self.handler(path, body, n)
                except Exception as e:  # a buggy test handler shows up as a 500, not a hang
                    reply = StubResponse(status=500, body=error_body(f"stub handler raised {type(e).__name__}: {e}"))
            if not isinstance(reply, StubResponse):
                reply = StubResponse(body=reply)
            wait = self.latency + reply.delay
            if wait > 0 and self._stopping.wait(wait):
                rh.close_connection = True
                return
            if reply.hang:
                self._stopping.wait()  # hold the connection open until the server stops
                rh.close_connection = True
                return
            if reply.drop:
                rh.close_connection = True
                return
            if reply.raw is not None:
                payload = reply.raw
            else:
                data = reply.body if reply.body is not None else {}
                if method == "POST" and path.endswith("/chat/completions") and reply.status == 200:
                    _fill_usage(body, data)
                payload = json.dumps(data).encode("utf-8")
            auth = rh.headers.get("Authorization", "")
            key = auth[len("Bearer "):] if auth.startswith("Bearer ") else auth
            for mark, value in ((ECHO_AUTH, auth), (ECHO_KEY, key)):
                payload = payload.replace(mark.encode(), json.dumps(value)[1:-1].encode("utf-8"))
            try:
                rh.send_response(reply.status)
                rh.send_header("Content-Type", "application/json")
                rh.send_header("Content-Length", str(len(payload)))
                for k, v in reply.headers.items():
                    rh.send_header(k, v.replace(ECHO_AUTH, auth).replace(ECHO_KEY, key))
                rh.end_headers()
                if reply.trickle > 0:
                    for i in range(len(payload)):
                        rh.wfile.write(payload[i:i + 1])
                        rh.wfile.flush()
                        if self._stopping.wait(reply.trickle):
                            break
                    rh.close_connection = True
                else:
                    rh.wfile.write(payload)
                    rh.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                rh.close_connection = True
        finally:
            with self._lock:
                self.in_flight -= 1


def main(argv: list[str] | None = None) -> None:
    """Serve the default handler in this process (benchmarks run it apart from the client, so the
    two do not share one GIL): prints the base URL, serves until SIGTERM/SIGINT.
    ``GET /_stub/stats`` returns ``{"count", "in_flight_max"}``."""
    import argparse
    import signal

    ap = argparse.ArgumentParser(description="OpenAI-compatible stub server on 127.0.0.1")
    ap.add_argument("--latency", type=float, default=0.0)
    args = ap.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with StubOpenAIServer(latency=args.latency) as srv:
        print(srv.base_url, flush=True)
        while not stop.wait(0.5):
            pass


if __name__ == "__main__":
    main()
