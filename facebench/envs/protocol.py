"""The pipe protocol between facebench and a worker: length-prefixed frames, standard library only.

A frame is ``MAGIC`` + a 4-byte big-endian header length + a UTF-8 JSON header + the binary
attachments whose lengths the header lists under ``"blobs"``. Generated images travel as
attachments of raw pixels (``Image.tobytes()`` with the mode and size in the header): exact for
every PIL mode (PNG cannot hold mode ``F``), and an order of magnitude cheaper than a PNG encode in
the worker plus a decode in the parent (see benchmarks/bench_worker.py). Input images are not
sent at all: a ``ChatRequest`` names a file on disk that both processes can read, and the worker
opens it with the same ``load_image`` the in-process adapter uses.

The magic bytes make a stray write on the protocol pipe a clear protocol error instead of a
multi-gigabyte read of a garbage length.
"""
from __future__ import annotations

import json
import struct
from typing import IO, Any

MAGIC = b"FBW1"
MAX_HEADER = 64 << 20  # a header is requests/answers as JSON: far below this
MAX_BLOB = 1 << 31


class ProtocolError(Exception):
    """The other side wrote something that is not a frame (or closed the pipe mid-frame)."""


def write_frame(stream: IO[bytes], header: dict[str, Any], blobs: list[bytes] | tuple[bytes, ...] = ()) -> None:
    """Write one frame and flush it (the other side blocks until the whole frame is there)."""
    head = dict(header)
    head["blobs"] = [len(b) for b in blobs]
    data = json.dumps(head, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    stream.write(MAGIC + struct.pack(">I", len(data)) + data)
    for b in blobs:
        stream.write(b)
    stream.flush()


def _read_exact(stream: IO[bytes], n: int, what: str) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            if got == 0 and what == "magic":
                raise EOFError("the other side closed the pipe")
            raise ProtocolError(f"pipe closed in the middle of a frame ({what}: {got} of {n} bytes)")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(stream: IO[bytes]) -> tuple[dict[str, Any], list[bytes]]:
    """Read one frame. ``EOFError`` on a clean close between frames, ``ProtocolError`` otherwise."""
    magic = _read_exact(stream, len(MAGIC), "magic")
    if magic != MAGIC:
        raise ProtocolError(f"expected a frame, got bytes {magic!r} (something wrote to the protocol pipe)")
    (size,) = struct.unpack(">I", _read_exact(stream, 4, "length"))
    if size > MAX_HEADER:
        raise ProtocolError(f"frame header of {size} bytes is over the {MAX_HEADER} limit")
    try:
        header = json.loads(_read_exact(stream, size, "header").decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ProtocolError(f"frame header is not JSON: {e}") from None
    if not isinstance(header, dict):
        raise ProtocolError("frame header is not a JSON object")
    lengths = header.pop("blobs", [])
    if not isinstance(lengths, list) or not all(isinstance(n, int) and 0 <= n <= MAX_BLOB for n in lengths):
        raise ProtocolError(f"bad attachment lengths {lengths!r}")
    return header, [_read_exact(stream, n, "attachment") for n in lengths]


def image_to_wire(image: Any) -> tuple[dict[str, Any], bytes]:
    """(header, pixels) for a PIL image. Palette images become RGB here, which is exactly what the
    predictor's ``convert("RGB")`` would do to them in-process."""
    if image.mode in ("P", "PA"):
        image = image.convert("RGB")
    return {"mode": image.mode, "size": list(image.size)}, image.tobytes()


def image_from_wire(meta: dict[str, Any], data: bytes) -> Any:
    from PIL import Image

    return Image.frombytes(meta["mode"], tuple(meta["size"]), data)
