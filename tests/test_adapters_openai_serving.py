"""``openai-api`` at serving speed: 8-bit RGB PNG inputs are sent as their own bytes (no decode +
re-encode), every other input is re-encoded as before, and the real ``Predictor`` keeps
``concurrency`` requests in flight against a real local server. Throughput figures are measured by
benchmarks/bench_openai_adapter.py, not here."""
from __future__ import annotations

import base64
import io
import threading

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("openai")

from facebench.adapters.openai_api import OpenAIAPIAdapter, png_file_data_url  # noqa: E402
from facebench.cache import BlobStore, KVCache  # noqa: E402
from facebench.runner.plan import assign_keys  # noqa: E402
from facebench.runner.predict import Predictor  # noqa: E402
from facebench.types import ChatRequest  # noqa: E402
from openai_stub_server import StubOpenAIServer, chat_completion  # noqa: E402
from tests.test_predict_overlap import chat_items  # noqa: E402


def _rgb(seed: int, shape=(12, 10, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _decoded(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))


def test_png_passthrough_only_for_plain_8bit_rgb(tmp_path):
    arr = _rgb(1)
    Image.fromarray(arr).save(tmp_path / "rgb.png")
    url = png_file_data_url(tmp_path / "rgb.png")
    assert base64.b64decode(url.split(",", 1)[1]) == (tmp_path / "rgb.png").read_bytes()  # the file itself
    assert np.array_equal(_decoded(url), arr)
    Image.fromarray(arr).convert("RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(arr).save(tmp_path / "key.png", transparency=(1, 2, 3))  # colour-key transparency
    Image.fromarray(arr).convert("P").save(tmp_path / "pal.png")
    Image.fromarray(arr[..., 0]).save(tmp_path / "grey.png")
    Image.fromarray(arr).save(tmp_path / "x.jpg")
    (tmp_path / "short.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    for name in ("rgba.png", "key.png", "pal.png", "grey.png", "x.jpg", "short.png", "missing.png"):
        assert png_file_data_url(tmp_path / name) is None, name


def test_adapter_sends_the_pixels_of_every_kind_of_input(tmp_path):
    arr = _rgb(2)
    files = {"rgb.png": arr, "x.jpg": None, "rgba.png": None}
    Image.fromarray(arr).save(tmp_path / "rgb.png")
    Image.fromarray(arr).save(tmp_path / "x.jpg", quality=95)
    Image.fromarray(arr).convert("RGBA").save(tmp_path / "rgba.png")
    reqs = [ChatRequest(doc_id=name, image=tmp_path / name, messages=({"role": "user", "content": f"about {name}"},))
            for name in files]
    with StubOpenAIServer(lambda path, body, n: chat_completion("ok")) as srv:
        model = OpenAIAPIAdapter(model="vlm", base_url=srv.base_url, concurrency=2)
        assert model.answer(reqs) == ["ok"] * 3
        sent = {}
        for _, body, _ in srv.requests:
            parts = body["messages"][0]["content"]
            sent[parts[1]["text"]] = parts[0]["image_url"]["url"]
    # each request's image arrives with exactly the pixels Pillow decodes from the file
    for r in reqs:
        want = np.asarray(Image.open(r.image).convert("RGB"))
        assert np.array_equal(_decoded(sent[r.question]), want)
    assert base64.b64decode(sent["about rgb.png"].split(",", 1)[1]) == (tmp_path / "rgb.png").read_bytes()


def test_predictor_keeps_concurrency_requests_in_flight(tmp_path):
    faces = []
    for i in range(4):
        Image.fromarray(_rgb(10 + i)).save(tmp_path / f"f{i}.png")
        faces.append(tmp_path / f"f{i}.png")
    items = chat_items(faces, per_face=6)  # 24 questions
    together = threading.Barrier(8, timeout=30)  # a reply only once 8 requests are in flight at once

    def handler(path, body, n):
        together.wait()
        return chat_completion(f"answer {n}")

    with StubOpenAIServer(handler) as srv:
        model = OpenAIAPIAdapter(model="vlm", base_url=srv.base_url, concurrency=8)
        assign_keys(items, model.fingerprint())
        cache = KVCache(tmp_path / "p.sqlite")
        records, stats = Predictor(model, cache, BlobStore(tmp_path / "b"), batch_size=24).run(items, "t")
        cache.close()
        assert stats.computed == 24 and srv.count == 24
        # the server saw the full concurrency (each reply waited for 8 in flight), never more
        assert srv.in_flight_max == 8
    assert sorted(r["output"] for r in records.values()) == sorted(f"answer {n}" for n in range(24))
