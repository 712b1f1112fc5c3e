"""Finding feature-extractor weights: an explicit path, an environment variable, facebench's own
cache, a few well-known locations other tools download to, and last a download (only when the
machine is online). When none of these works the caller gets ``WeightsUnavailable`` carrying
what is missing and how to fix it; metrics turn that into a "skipped" value, never a number.

Offline is detected from ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` / ``FACEBENCH_OFFLINE``
(any of "1", "true", "yes"), so an offline run never waits on network timeouts.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import urllib.request
from functools import lru_cache
from pathlib import Path

from facebench.hashing import sha256_file
from facebench.paths import cache_root

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 15.0  # per socket operation; a dead network fails fast


from facebench.errors import WeightsUnavailable  # noqa: E402,F401  (re-exported; defined in core)


def offline() -> bool:
    for var in ("FACEBENCH_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return True
    return False


def weights_dir() -> Path:
    d = cache_root() / "weights"
    d.mkdir(parents=True, exist_ok=True)
    return d


def download(url: str, dest: Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Stream ``url`` to ``dest`` via a temp file + rename (a killed download leaves no file)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=timeout) as r:
            shutil.copyfileobj(r, f, length=1 << 20)
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return dest


def resolve_weights(
    *,
    what: str,
    filename: str,
    url: str | None,
    explicit: str | os.PathLike | None = None,
    env_var: str | None = None,
    extra_dirs: tuple[Path, ...] = (),
    arg_hint: str = "weights=PATH",
) -> Path:
    """Return a local weight file for ``what`` (see module doc for the search order).

    ``arg_hint`` names the metric argument in the fix message (the metric passes e.g.
    ``--metric_args fid.weights=PATH``)."""
    how = f"pass --metric_args {arg_hint}"
    if env_var:
        how += f" or export {env_var}=PATH"
    get = f"download {url} and {how}" if url else how
    if explicit:
        p = Path(explicit).expanduser()
        if p.is_file():
            return p
        raise WeightsUnavailable(f"{what} weights not found at {p}", get)
    if env_var and os.environ.get(env_var):
        p = Path(os.environ[env_var]).expanduser()
        if p.is_file():
            return p
        raise WeightsUnavailable(f"{what} weights not found at ${env_var}={p}", get)
    for d in (weights_dir(), *extra_dirs):
        p = Path(d) / filename
        if p.is_file() and p.stat().st_size > 0:
            return p
    if url is None:
        raise WeightsUnavailable(f"{what} weights not found", get)
    if offline():
        raise WeightsUnavailable(f"{what} weights ({filename}) not found and the run is offline", get)
    dest = weights_dir() / filename
    log.info("downloading %s weights from %s to %s", what, url, dest)
    try:
        return download(url, dest)
    except Exception as e:  # no network, HTTP error, timeout
        raise WeightsUnavailable(f"{what} weights could not be downloaded ({type(e).__name__}: {e})", get) from None


@lru_cache(maxsize=64)
def _sha_cached(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a weight file, memoised per (path, size, mtime) within the process."""
    st = os.stat(path)
    return _sha_cached(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
