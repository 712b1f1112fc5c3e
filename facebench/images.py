"""Image I/O with the guards a benchmark needs: PNG only for outputs (lossless, JPEG moves FID),
atomic writes, clear errors for corrupt files and decompression bombs."""
from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from facebench.errors import DatasetError

# Refuse images larger than this many pixels (PIL's own default warns at ~89M and errors at 2x).
MAX_IMAGE_PIXELS = 64_000_000


def load_image(path: str | Path):
    """Open an image fully as RGB; a corrupt, truncated or oversized file raises DatasetError."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    path = Path(path)
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_IMAGE_PIXELS:
                raise DatasetError(
                    f"image {path} is {im.width}x{im.height}: larger than {MAX_IMAGE_PIXELS} pixels, refused"
                )
            im.load()
            return im.convert("RGB")
    except DatasetError:
        raise
    except FileNotFoundError:
        raise DatasetError(f"image not found: {path}") from None
    except Image.DecompressionBombError as e:
        raise DatasetError(f"image {path} refused as a decompression bomb: {e}") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise DatasetError(f"image {path} is corrupt or unreadable: {e}") from None


def png_bytes(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write via a temp file in the same folder + fsync + rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def save_png(image, path: str | Path) -> None:
    atomic_write_bytes(path, png_bytes(image))
