"""A PNG encoder for generated RGB images that leaves the GIL to the model.

Pillow encodes PNG into memory with the GIL held: PngImagePlugin writes image data through a
wrapper object without ``fileno()`` (``_idat``), so ``ImageFile._save`` takes the
``encoder.encode(bufsize)`` path, and that C function (Pillow src/encode.c ``_encode``) does not
release the GIL — only ``encode_to_file`` does. A writer thread encoding with Pillow therefore
stalls a model whose host thread needs the GIL (every kernel launch of an autoregressive
generator) for whole compression chunks, and several encoder threads cannot use several cores.

Here the scanline filter is numpy (its loops run without the GIL on uint8/int16 arrays) and the
compression is ``zlib.compressobj`` (CPython releases the GIL inside ``deflate``). The format is
the PNG specification (ISO/IEC 15948, W3C PNG 2nd edition): signature (§5.2), chunks with CRC-32
over type + data (§5.3), IHDR for 8-bit truecolour (§11.2.2), filter method 0 with the Paeth
filter on every scanline (§9.2, §9.4), zlib stream in one IDAT (§10), IEND. Lossless by
construction; tests decode every output with Pillow and compare pixels exactly. With zlib level 1
and the Z_RLE strategy (zlib's manual: "designed to be almost as fast as Z_HUFFMAN_ONLY, but give
better compression for PNG image data") a real face encodes as fast as Pillow at level 1 into a
file the size of Pillow's level 6 (benchmarks/bench_accelerator.py prints the table).
"""
from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PAETH = 4
_ROWS_PER_BLOCK = 64  # filter in blocks of rows: temporaries stay in cache


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind)) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _paeth_block(cur: np.ndarray, prev: np.ndarray, bpp: int, out: np.ndarray) -> None:
    """Paeth-filter rows ``cur`` (n, stride) given the row above each (``prev``) into ``out``."""
    x = cur.astype(np.int16)
    b = prev.astype(np.int16)
    a = np.zeros_like(x)
    a[:, bpp:] = x[:, :-bpp]
    c = np.zeros_like(x)
    c[:, bpp:] = b[:, :-bpp]
    db = b - c  # p - a, with p = a + b - c
    da = a - c  # p - b
    pa, pb = np.abs(db), np.abs(da)
    pc = np.abs(db + da)  # p - c
    pred = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    np.subtract(x, pred, out=x)
    out[:] = x.astype(np.uint8)  # modulo 256, as the filter is defined


def encode_png(image: Any, level: int = 1, strategy: int = zlib.Z_RLE) -> bytes:
    """PNG bytes of an RGB image (a PIL image in mode RGB or a (H, W, 3) uint8 array)."""
    arr = np.ascontiguousarray(np.asarray(image), dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"encode_png takes an RGB image, got an array of shape {arr.shape}")
    h, w, bpp = arr.shape
    rows = arr.reshape(h, w * bpp)
    filtered = np.empty((h, 1 + w * bpp), np.uint8)
    filtered[:, 0] = _PAETH
    zero = np.zeros((1, w * bpp), np.uint8)
    for y in range(0, h, _ROWS_PER_BLOCK):
        cur = rows[y : y + _ROWS_PER_BLOCK]
        prev = np.concatenate([zero if y == 0 else rows[y - 1 : y], cur[:-1]])
        _paeth_block(cur, prev, bpp, filtered[y : y + len(cur), 1:])
    deflate = zlib.compressobj(level, zlib.DEFLATED, 15, 9, strategy)
    idat = deflate.compress(filtered) + deflate.flush()
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit truecolour, deflate, filter 0, no interlace
    return _SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
