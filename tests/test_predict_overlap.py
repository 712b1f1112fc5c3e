"""The overlapped predict loop (writer thread, input prefetch, auto batch size) against the serial
design on the same inputs, the PNG encoder against Pillow's decoder, writer failures, back-pressure
and a SIGKILL while the writer has a back-log. No timing asserts: speed is measured by
benchmarks/bench_accelerator.py."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from PIL import Image

from facebench.adapters.dummy import DummyAdapter
from facebench.cache import BlobStore, KVCache
from facebench.errors import DatasetError, FacebenchError
from facebench.pngwrite import encode_png
from facebench.runner.plan import WorkItem, assign_keys
from facebench.runner.predict import Predictor, is_out_of_memory
from facebench.runner.prefetch import PreloadedChatRequest
from facebench.types import ChatRequest, GenRequest, Prediction
from tests.helpers import REPO


# -- helpers -------------------------------------------------------------------------------------
def gen_items(n: int, size: int = 24, k: int = 2, tag: str = "g") -> list[WorkItem]:
    items = []
    for i in range(n):
        req = GenRequest(doc_id=f"{tag}{i}", prompt=f"face {i}", n=k, seed=100 + i, height=size, width=size)
        items.append(WorkItem(f"{tag}{i}", req, Prediction(item_id=f"{tag}{i}", doc_id=f"{tag}{i}", task="t",
                                                           prompt=req.prompt)))
    return items


def face_files(root: Path, n: int, size: int = 20) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    paths = []
    for i in range(n):
        p = root / f"f{i}.png"
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


def chat_items(faces: list[Path], per_face: int = 3) -> list[WorkItem]:
    items = []
    for j, face in enumerate(faces):
        for q in range(per_face):
            req = ChatRequest(doc_id=f"d{j}", image=face, messages=({"role": "user", "content": f"q{q}?"},),
                              image_sha256=f"sha{j}")
            items.append(WorkItem(f"d{j}#q{q}", req, Prediction(item_id=f"d{j}#q{q}", doc_id=f"d{j}", task="t",
                                                                 prompt=f"q{q}?")))
    return items


def stores(root: Path) -> tuple[KVCache, BlobStore]:
    return KVCache(root / "p.sqlite"), BlobStore(root / "blobs")


def pixels(blobs: BlobStore, digest: str) -> np.ndarray:
    return np.asarray(Image.open(blobs.path_for(digest)).convert("RGB"))


class PixelAnswers(DummyAdapter):
    """Answers with a checksum of the pixels it reads through ``load_image()``; records what it got."""

    name: ClassVar[str] = "pixel-answers"

    def __init__(self, mutate: bool = False, **kw: Any):
        super().__init__(**kw)
        self.mutate = mutate
        self.seen: list[Any] = []

    def answer(self, reqs: list[ChatRequest]) -> list[str]:
        self.calls += 1
        out = []
        for r in reqs:
            self.seen.append(r)
            im = r.load_image()
            out.append(f"{int(np.asarray(im, dtype=np.int64).sum())}:{r.question}")
            if self.mutate:
                im.paste((255, 0, 0), (0, 0, im.width, im.height))  # an adapter editing its input in place
        return out


# -- PNG encoder ---------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 1, 3), (2, 5, 3), (7, 3, 3), (65, 130, 3), (130, 65, 3)])
def test_encode_png_is_lossless_and_valid(shape):
    rng = np.random.default_rng(sum(shape))
    for arr in (rng.integers(0, 256, shape, dtype=np.uint8),  # noise: every filter branch and wrap-around
                np.broadcast_to(np.linspace(0, 255, shape[1], dtype=np.uint8)[None, :, None], shape).copy(),
                np.full(shape, 255, np.uint8), np.zeros(shape, np.uint8)):
        data = encode_png(arr)
        with Image.open(io.BytesIO(data)) as im:
            im.verify()  # chunk CRCs and structure
        with Image.open(io.BytesIO(data)) as im:
            assert im.mode == "RGB" and im.size == (shape[1], shape[0])
            assert np.array_equal(np.asarray(im), arr)


def test_encode_png_takes_pil_images_and_refuses_other_modes():
    im = Image.fromarray(np.random.default_rng(1).integers(0, 256, (33, 17, 3), dtype=np.uint8))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(encode_png(im)))), np.asarray(im))
    with pytest.raises(ValueError, match="RGB"):
        encode_png(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="RGB"):
        encode_png(np.zeros((4, 4, 4), np.uint8))


# -- overlapped vs serial ------------------------------------------------------------------------
def test_overlapped_generation_equals_serial_and_everything_is_committed(tmp_path):
    results = {}
    for serial in (True, False):
        cache, blobs = stores(tmp_path / str(serial))
        items = gen_items(11)
        model = DummyAdapter()
        assign_keys(items, model.fingerprint())
        records, stats = Predictor(model, cache, blobs, batch_size=3, serial=serial, writer_threads=2).run(items, "t")
        assert stats.computed == 11 and stats.model_calls == 4 and not stats.failed
        assert stats.batch_size == 3 and stats.model_seconds > 0
        committed = cache.get_many(it.key for it in items)
        assert set(committed) == {it.key for it in items}  # every item committed before run() returned
        for it in items:
            assert committed[it.key]["images"] == records[it.key]["images"]
            assert all(blobs.valid(d) for d in records[it.key]["images"])
        results[serial] = [[pixels(blobs, d) for d in records[it.key]["images"]] for it in items]
        # the pixels are the adapter's own images, in order
        want = DummyAdapter().generate_images([it.request for it in items])
        assert all(np.array_equal(a, np.asarray(b)) for got, exp in zip(results[serial], want) for a, b in zip(got, exp))
        cache.close()
    assert all(np.array_equal(a, b) for x, y in zip(results[True], results[False]) for a, b in zip(x, y))


def test_cached_blobs_of_another_encoder_stay_valid_hits(tmp_path):
    """Records written with Pillow's encoding (before) are hits for the new encoder: nothing keys on
    how a PNG was compressed."""
    from facebench.images import png_bytes

    cache, blobs = stores(tmp_path)
    items = gen_items(4)
    model = DummyAdapter()
    assign_keys(items, model.fingerprint())
    first, _ = Predictor(model, cache, blobs, batch_size=2, serial=True, encode=png_bytes).run(items, "t")
    model.calls = 0
    second, stats = Predictor(model, cache, blobs, batch_size=2).run(items, "t")
    assert stats.cached == 4 and stats.model_calls == 0 and model.calls == 0
    assert [second[it.key]["images"] for it in items] == [first[it.key]["images"] for it in items]


def test_damaged_blob_among_many_hits_is_recomputed(tmp_path):
    """Cache hits are verified on several threads when there are many: a damaged blob still misses."""
    cache, blobs = stores(tmp_path)
    items = gen_items(12, k=1)
    model = DummyAdapter()
    assign_keys(items, model.fingerprint())
    first, _ = Predictor(model, cache, blobs, batch_size=4).run(items, "t")
    victim = blobs.path_for(first[items[5].key]["images"][0])
    victim.write_bytes(victim.read_bytes()[:30])
    model.calls = 0
    second, stats = Predictor(model, cache, blobs, batch_size=4, writer_threads=3).run(items, "t")
    assert stats.cached == 11 and stats.computed == 1 and model.calls == 1
    assert not second[items[5].key]["cached"] and blobs.valid(second[items[5].key]["images"][0])


def test_prefetched_requests_carry_the_same_pixels_and_key(tmp_path):
    faces = face_files(tmp_path / "faces", 5)
    items = chat_items(faces, per_face=3)
    out = {}
    for serial in (True, False):
        cache, blobs = stores(tmp_path / f"c{serial}")
        model = PixelAnswers(mutate=True)
        assign_keys(items, model.fingerprint())
        records, stats = Predictor(model, cache, blobs, batch_size=4, serial=serial).run(items, "t")
        assert stats.computed == len(items)
        out[serial] = {k: r["output"] for k, r in records.items()}
        kinds = {type(r) for r in model.seen}
        assert kinds == ({ChatRequest} if serial else {PreloadedChatRequest})
        for r, it in zip(model.seen, items):
            assert r.to_dict() == it.request.to_dict()  # same cache key
        cache.close()
    # same answers, although the adapter painted every image red after reading it: each item owns its copy
    assert out[True] == out[False]
    expected = {it.key: f"{int(np.asarray(Image.open(it.request.image).convert('RGB'), dtype=np.int64).sum())}:"
                        f"{it.request.question}" for it in items}
    assert out[False] == expected


def test_preloaded_request_hands_over_once_then_copies():
    im = Image.new("RGB", (4, 4), (1, 2, 3))
    req = PreloadedChatRequest.of(ChatRequest(doc_id="d", image=Path("x.png"), messages=()), im)
    first = req.load_image()
    assert first is im
    first.paste((9, 9, 9), (0, 0, 4, 4))
    second = req.load_image()
    assert second is not im and second.getpixel((0, 0)) == (9, 9, 9)


def test_a_corrupt_input_fails_as_without_prefetch(tmp_path):
    faces = face_files(tmp_path / "faces", 3)
    faces[1].write_bytes(faces[1].read_bytes()[:40])  # truncated PNG
    items = chat_items(faces, per_face=2)
    for serial in (True, False):
        cache, blobs = stores(tmp_path / f"c{serial}")
        model = PixelAnswers()
        assign_keys(items, model.fingerprint())
        with pytest.raises(DatasetError, match="corrupt or unreadable"):
            Predictor(model, cache, blobs, batch_size=2, serial=serial).run(items, "t")
        # the batch before the broken image was committed; nothing after it
        assert set(cache.get_many(it.key for it in items)) == {items[0].key, items[1].key}
        cache.close()


def test_empty_and_broken_answers_in_the_writer(tmp_path):
    class Mixed(DummyAdapter):
        name: ClassVar[str] = "mixed"

        def answer(self, reqs):
            return ["" if i % 3 == 0 else (None if i % 3 == 1 else "yes") for i, _ in enumerate(reqs)]

    faces = face_files(tmp_path / "faces", 2)
    items = chat_items(faces, per_face=3)
    cache, blobs = stores(tmp_path)
    model = Mixed()
    assign_keys(items, model.fingerprint())
    records, stats = Predictor(model, cache, blobs, batch_size=6).run(items, "t")
    assert stats.empty == 2 and stats.failed == 2 and stats.computed == 4
    committed = cache.get_many(it.key for it in items)
    assert sorted(v["output"] for v in committed.values()) == ["", "", "yes", "yes"]  # empty answers are answers
    assert sum(1 for r in records.values() if r.get("error")) == 2


# -- writer failures and back-pressure -----------------------------------------------------------
class FailingBlobs(BlobStore):
    def __init__(self, root: Path, fail_after: int):
        super().__init__(root)
        self.left = fail_after

    def put(self, data: bytes, suffix: str = ".png") -> str:
        if self.left <= 0:
            raise OSError(28, "No space left on device")
        self.left -= 1
        return super().put(data, suffix)


def test_a_writer_error_surfaces_and_unfinished_items_are_not_cached(tmp_path):
    cache = KVCache(tmp_path / "p.sqlite")
    blobs = FailingBlobs(tmp_path / "blobs", fail_after=5)  # 2 images per item: items 0-1 fit, item 2 breaks
    items = gen_items(8)
    model = DummyAdapter()
    assign_keys(items, model.fingerprint())
    with pytest.raises(OSError, match="No space left") as err:
        Predictor(model, cache, blobs, batch_size=2, writer_threads=1).run(items, "t")
    assert any("output writer" in n for n in getattr(err.value, "__notes__", []))
    committed = cache.get_many(it.key for it in items)
    assert set(committed) == {items[0].key, items[1].key}  # finished items kept, nothing half-done
    assert all(blobs.valid(d) for rec in committed.values() for d in rec["images"])
    assert model.calls <= 2 + 1 + 2  # it stopped calling the model soon after the writer failed
    # a rerun with room computes only what is missing
    model.calls = 0
    _, stats = Predictor(model, cache, BlobStore(tmp_path / "blobs"), batch_size=2).run(items, "t")
    assert stats.cached == 2 and stats.computed == 6


def test_an_adapter_error_still_commits_the_finished_batches(tmp_path):
    class Breaks(DummyAdapter):
        name: ClassVar[str] = "breaks"

        def generate_images(self, reqs):
            if self.calls >= 2:
                raise RuntimeError("driver crashed")
            return super().generate_images(reqs)

    cache, blobs = stores(tmp_path)
    items = gen_items(8)
    model = Breaks()
    assign_keys(items, model.fingerprint())
    with pytest.raises(RuntimeError, match="driver crashed"):
        Predictor(model, cache, blobs, batch_size=2).run(items, "t")
    assert set(cache.get_many(it.key for it in items)) == {it.key for it in items[:4]}


def test_back_pressure_bounds_the_backlog(tmp_path):
    """With the writer blocked, the model may run ahead by at most ``max_backlog`` batches."""
    gate = threading.Event()

    def blocked_encode(image):
        gate.wait(30)
        return encode_png(image)

    cache, blobs = stores(tmp_path)
    items = gen_items(12, k=1)
    model = DummyAdapter()
    assign_keys(items, model.fingerprint())
    pred = Predictor(model, cache, blobs, batch_size=2, max_backlog=2, writer_threads=1, encode=blocked_encode)
    done: dict[str, Any] = {}
    th = threading.Thread(target=lambda: done.update(zip(("records", "stats"), pred.run(items, "t"))))
    th.start()
    deadline = time.time() + 30
    while model.calls < 3 and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # time for a 4th call, if back-pressure failed to hold it
    assert model.calls == 3  # 2 batches held by the writer + the one the model thread is handing over
    assert len(cache) == 0
    gate.set()
    th.join(30)
    assert done["stats"].computed == 12 and len(cache.get_many(it.key for it in items)) == 12
    assert done["stats"].wait_seconds > 0


# -- auto batch size -----------------------------------------------------------------------------
class OutOfMemoryError(RuntimeError):
    """Named like torch.cuda.OutOfMemoryError (a RuntimeError subclass)."""


class Fits(DummyAdapter):
    name: ClassVar[str] = "fits"

    def __init__(self, limit: int, exc: type[BaseException] = OutOfMemoryError, **kw: Any):
        super().__init__(**kw)
        self.limit, self.exc, self.sizes = limit, exc, []

    def generate_images(self, reqs):
        self.sizes.append(len(reqs))
        if len(reqs) > self.limit:
            raise self.exc("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().generate_images(reqs)


@pytest.mark.parametrize("exc", [OutOfMemoryError, MemoryError])
def test_auto_batch_size_halves_on_out_of_memory(tmp_path, exc):
    cache, blobs = stores(tmp_path)
    items = gen_items(21, k=1)
    model = Fits(limit=5, exc=exc)
    assign_keys(items, model.fingerprint())
    records, stats = Predictor(model, cache, blobs, batch_size="auto", max_batch_size=16).run(items, "t")
    assert model.sizes[:2] == [16, 8]  # out of memory twice, retrying the same items at half the size
    assert model.sizes[2:] == [4, 4, 4, 4, 4, 1]  # then every item once, at the size that fits
    assert stats.batch_size == 4 and stats.batch_size_auto and stats.oom_retries == 2
    assert stats.computed == 21 and stats.model_calls == len(model.sizes)
    # same outputs as a fixed batch size
    ref_cache, ref_blobs = stores(tmp_path / "ref")
    ref, _ = Predictor(DummyAdapter(), ref_cache, ref_blobs, batch_size=3).run(items, "t")
    for it in items:
        assert np.array_equal(pixels(blobs, records[it.key]["images"][0]), pixels(ref_blobs, ref[it.key]["images"][0]))
    d = stats.to_dict()
    assert d["batch_size"] == 4 and d["oom_retries"] == 2


def test_auto_batch_size_with_a_real_torch_oom_class(tmp_path):
    torch = pytest.importorskip("torch")
    cache, blobs = stores(tmp_path)
    items = gen_items(5, k=1)
    model = Fits(limit=2, exc=torch.cuda.OutOfMemoryError)
    assign_keys(items, model.fingerprint())
    _, stats = Predictor(model, cache, blobs, batch_size="AUTO", max_batch_size=8).run(items, "t")
    assert stats.batch_size == 2 and stats.computed == 5
    assert model.sizes[:3] == [5, 2, 2]  # a tail smaller than the ceiling is halved from its own size


def test_out_of_memory_errors(tmp_path):
    cache, blobs = stores(tmp_path)
    items = gen_items(4, k=1)
    model = Fits(limit=0)
    assign_keys(items, model.fingerprint())
    with pytest.raises(FacebenchError, match="even with a batch of 1"):
        Predictor(model, cache, blobs, batch_size="auto", max_batch_size=4).run(items, "t")
    with pytest.raises(FacebenchError, match="--batch_size auto"):
        Predictor(Fits(limit=1), cache, blobs, batch_size=2).run(items, "t")
    with pytest.raises(FacebenchError, match="positive number or 'auto'"):
        Predictor(model, cache, blobs, batch_size="big")
    assert is_out_of_memory(RuntimeError("MPS backend out of memory"))
    assert not is_out_of_memory(RuntimeError("shape mismatch")) and not is_out_of_memory(ValueError("out of memory"))


# -- SIGKILL while the writer has a back-log -----------------------------------------------------
_KILL_SCRIPT = r'''
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[4])
from facebench.adapters.dummy import DummyAdapter
from facebench.cache import BlobStore, KVCache
from facebench.pngwrite import encode_png
from facebench.runner.plan import assign_keys
from facebench.runner.predict import Predictor
from tests.test_predict_overlap import gen_items

root, log, slow = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])

class Logged(DummyAdapter):
    def generate_images(self, reqs):
        with open(log, "a") as f:
            f.write("".join(r.doc_id + "\n" for r in reqs))
        return super().generate_images(reqs)

def encode(image):
    time.sleep(slow)  # a slow disk or encoder: the writer falls behind the model
    return encode_png(image)

items = gen_items(24, size=32, k=2)
model = Logged()
assign_keys(items, DummyAdapter().fingerprint())  # the test reads the cache under the dummy's identity
cache = KVCache(root / "p.sqlite")
records, stats = Predictor(model, cache, BlobStore(root / "blobs"), batch_size=3, max_backlog=2,
                           writer_threads=1, encode=encode).run(items, "t")
print(stats.computed, stats.cached)
'''


def test_sigkill_while_the_writer_has_a_backlog_resumes_with_nothing_lost(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(_KILL_SCRIPT)
    log = tmp_path / "calls.log"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "c"), str(log), "0.15", str(REPO)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cache = None
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            asked = len(log.read_text().splitlines()) if log.exists() else 0
            if asked >= 4 * 3:  # 4 calls: with 6 images per batch at 0.15 s each, the writer is behind
                break
            time.sleep(0.01)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        asked_before = len(log.read_text().splitlines())
        cache = KVCache(tmp_path / "c" / "p.sqlite")
        blobs = BlobStore(tmp_path / "c" / "blobs")
        items = gen_items(24, size=32, k=2)
        assign_keys(items, DummyAdapter().fingerprint())  # the identity the script keys its items by
        committed = cache.get_many(it.key for it in items)
        assert len(cache) == len(committed)
        # every committed record points at durable, intact blobs
        for rec in committed.values():
            assert len(rec["images"]) == 2 and all(blobs.valid(d) for d in rec["images"])
        n_committed = len(committed)
        assert asked_before - n_committed >= 2 * 3, "no back-log at the kill: the test did not test it"
        assert asked_before - n_committed <= 3 * (1 + 2), "more lost than the batch in flight + the back-log"
    finally:
        if proc.poll() is None:
            proc.kill()
        if cache is not None:
            cache.close()
    # resume: the same command, a fast writer; it recomputes only what was not committed
    r = subprocess.run([sys.executable, str(script), str(tmp_path / "c"), str(log), "0", str(REPO)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    computed, cached = map(int, r.stdout.split())
    assert cached == n_committed and computed == 24 - n_committed
    # and the images equal an uninterrupted run's
    clean = subprocess.run([sys.executable, str(script), str(tmp_path / "clean"), str(tmp_path / "clean.log"), "0",
                            str(REPO)], env=env, capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0, clean.stderr[-2000:]

    def images(root: Path) -> dict[str, list[np.ndarray]]:
        c = KVCache(root / "p.sqlite")
        b = BlobStore(root / "blobs")
        out = {k: [pixels(b, d) for d in v["images"]] for k, v in c.get_many(it.key for it in items).items()}
        c.close()
        return out

    resumed, fresh = images(tmp_path / "c"), images(tmp_path / "clean")
    assert resumed.keys() == fresh.keys() and len(fresh) == 24
    assert all(np.array_equal(a, b) for k in fresh for a, b in zip(resumed[k], fresh[k]))
