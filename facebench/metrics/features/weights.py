"""Finding feature-extractor weights: an explicit path, an environment variable, facebench's own
cache, a few well-known locations other tools download to, and last a download (only when the
machine is online). When none of these works the caller gets ``WeightsUnavailable`` carrying
what is missing and how to fix it; metrics turn that into a "skipped" value, never a number.

Weights are code (a TorchScript file runs whatever it holds; a pickle too), so who put a file
where decides whether it is loaded:

- an explicit path (``--metric_args fid.weights=PATH``) or the environment variable is the user's
  own decision, like choosing to unpickle a file: it is loaded; when its sha256 differs from the
  published one of the file it stands in for, a warning says so and ``weights_check()`` records
  it (the numbers are then not comparable with published ones);
- anything facebench *finds* (its own cache, other tools' download folders) or downloads is loaded
  only if its sha256 equals the published one (``PUBLISHED_SHA256``); a mismatch is an error
  naming the file, and the file is not loaded;
- folders anyone can write to (``/tmp``, where clean-fid downloads, or any world-writable or
  foreign-owned folder) are never searched: a file planted there could fake FID = 0. A verified
  file from another tool's folder is first copied into facebench's cache and the copy is checked
  and loaded, so it cannot be swapped between check and load.

Offline is detected from ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` / ``FACEBENCH_OFFLINE``
(any of "1", "true", "yes"), so an offline run never waits on network timeouts.
"""
from __future__ import annotations

import logging
import os
import shutil
import stat
import tempfile
import urllib.request
from functools import lru_cache
from pathlib import Path

from facebench.hashing import sha256_file
from facebench.paths import cache_root

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 15.0  # per socket operation; a dead network fails fast

# sha256 of the published weight files, by file name. Sources (values read there, not copied code):
# - inception-2015-12-05.pt (NVIDIA's TorchScript export that clean-fid downloads): pinned as the
#   download digest of this URL in crowsonkb/k-diffusion k_diffusion/evaluation.py
#   (InceptionV3FeatureExtractor), 95,607,719 bytes;
# - pt_inception-2015-12-05-6726825d.pth (pytorch-fid's release): the name carries torch.hub's
#   8-digit sha256 prefix; the full value is the one FID harnesses pin for that URL (e.g. genforce's
#   Inception model table, "tf_inception_v3"), 95,628,359 bytes.
PUBLISHED_SHA256 = {
    "inception-2015-12-05.pt": "f58cb9b6ec323ed63459aa4fb441fe750cfe39fafad6da5cb504a16f19e958f4",
    "pt_inception-2015-12-05-6726825d.pth": "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
}
_CHECKS: dict[str, dict[str, object]] = {}


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


def download(url: str, dest: Path, timeout: float = DOWNLOAD_TIMEOUT_S, sha256: str | None = None) -> Path:
    """Stream ``url`` to ``dest`` via a temp file + rename (a killed download leaves no file);
    with ``sha256``, a download with another hash is deleted and raises ``ValueError``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=timeout) as r:
            shutil.copyfileobj(r, f, length=1 << 20)
        if sha256 is not None:
            got = sha256_file(tmp)
            if got != sha256:
                raise ValueError(f"downloaded file has sha256 {got}, not the published {sha256}")
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return dest


def shared_folder_reason(folder: str | os.PathLike) -> str | None:
    """Why ``folder`` must not be searched for weights (someone else could plant a file there),
    or None. Safe means: not a temp root, owned by us or root and writable by nobody else, and
    every folder above it owned by us or root and, if others may write it, sticky (so nobody can
    rename our folder away and put theirs in its place)."""
    try:
        real = Path(os.path.realpath(folder))
        st = os.stat(real)
    except OSError:
        return "missing"
    tmp_roots = {Path(os.path.realpath(tempfile.gettempdir())), Path("/tmp"), Path("/var/tmp"), Path("/dev/shm")}
    if real in tmp_roots:
        return "a shared temp folder"
    me = os.getuid() if hasattr(os, "getuid") else None
    if me is None:  # no POSIX ownership to check (Windows): only the temp roots are refused
        return None
    if st.st_uid not in (me, 0):
        return "owned by another user"
    if st.st_mode & (stat.S_IWOTH | stat.S_IWGRP):
        return "writable by other users"
    for parent in real.parents:
        try:
            pst = os.stat(parent)
        except OSError:
            return "unreadable parent folder"
        if pst.st_uid not in (me, 0):
            return f"inside {parent}, owned by another user"
        if pst.st_mode & (stat.S_IWOTH | stat.S_IWGRP) and not pst.st_mode & stat.S_ISVTX:
            return f"inside {parent}, which other users can write"
    return None


def weights_check(path: str | os.PathLike) -> dict[str, object] | None:
    """What ``resolve_weights`` found out about ``path``: sha256, the published one (if known),
    whether they match and where the file came from (explicit / env / cache / copied / download)."""
    return _CHECKS.get(str(Path(path)))


def _record(path: Path, source: str, expected: str | None) -> dict[str, object]:
    got = file_sha256(path)
    check: dict[str, object] = {"sha256": got, "published_sha256": expected,
                                "matches_published": None if expected is None else got == expected, "source": source}
    _CHECKS[str(path)] = check
    return check


def _regular(p: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(p).st_mode) and os.stat(p).st_size > 0
    except OSError:
        return False


def resolve_weights(
    *,
    what: str,
    filename: str,
    url: str | None,
    explicit: str | os.PathLike | None = None,
    env_var: str | None = None,
    extra_dirs: tuple[Path, ...] = (),
    arg_hint: str = "weights=PATH",
    sha256: str | None = None,
) -> Path:
    """Return a local weight file for ``what`` (see module doc for the search order and trust).

    ``arg_hint`` names the metric argument in the fix message (the metric passes e.g.
    ``--metric_args fid.weights=PATH``). ``sha256``: the published hash (default: looked up by
    ``filename`` in ``PUBLISHED_SHA256``)."""
    expected = sha256 or PUBLISHED_SHA256.get(filename)
    how = f"pass --metric_args {arg_hint}"
    if env_var:
        how += f" or export {env_var}=PATH"
    get = f"download {url} and {how}" if url else how
    for given, label in ((explicit, "explicit"), (os.environ.get(env_var) if env_var else None, "env")):
        if not given:
            continue
        p = Path(given).expanduser()
        where = p if label == "explicit" else f"${env_var}={p}"
        if not _regular(p):
            raise WeightsUnavailable(f"{what} weights not found at {where} (no regular, non-empty file there)", get)
        check = _record(p, label, expected)
        if check["matches_published"] is False:
            log.warning("%s weights %s have sha256 %s, not the published %s (%s): loaded because you named "
                        "them, but their FID/KID are not comparable with published numbers",
                        what, p, check["sha256"], expected, filename)
        return p
    cached = weights_dir() / filename
    if _regular(cached):
        check = _record(cached, "cache", expected)
        if check["matches_published"] is False:
            raise WeightsUnavailable(
                f"{what} weights {cached} in facebench's cache have sha256 {check['sha256']}, not the published "
                f"{expected}: not loaded (a tampered or broken file)",
                f"delete {cached} (it is downloaded again), or {how} to use a file you trust")
        return cached
    for d in extra_dirs:
        p = Path(d) / filename
        if not _regular(p):
            continue
        why = shared_folder_reason(d)
        if why is not None:
            log.info("not looking for %s weights in %s (%s: anyone could plant a file there)", what, d, why)
            continue
        if expected is None or file_sha256(p) != expected:
            log.info("ignoring %s (found in another tool's folder, but its sha256 is not the published one)", p)
            continue
        tmp = cached.with_name(f".{cached.name}.copy")
        shutil.copyfile(p, tmp)  # copy, then check and load the copy: nothing can swap it in between
        os.replace(tmp, cached)
        check = _record(cached, f"copied from {p}", expected)
        if check["matches_published"]:
            return cached
        cached.unlink(missing_ok=True)
    if url is None:
        raise WeightsUnavailable(f"{what} weights not found", get)
    if offline():
        raise WeightsUnavailable(f"{what} weights ({filename}) not found and the run is offline", get)
    log.info("downloading %s weights from %s to %s", what, url, cached)
    try:
        download(url, cached, sha256=expected)
    except Exception as e:  # no network, HTTP error, timeout, wrong hash
        raise WeightsUnavailable(f"{what} weights could not be downloaded ({type(e).__name__}: {e})", get) from None
    _record(cached, "download", expected)
    return cached


def load_torchscript(path: str | os.PathLike, device, what: str, fix: str):
    """``torch.jit.load`` (the caller decided the file is trusted), with a file that is not a
    TorchScript archive (``fid.weights=/etc/passwd``) as one ``WeightsUnavailable`` line."""
    import torch

    try:
        return torch.jit.load(str(path), map_location=device).eval()
    except Exception as e:  # noqa: BLE001 - RuntimeError/ValueError/zip errors from torch
        first = (str(e).strip().splitlines() or [""])[0][:160]
        raise WeightsUnavailable(f"{what} weights at {path} cannot be loaded as TorchScript "
                                 f"({type(e).__name__}: {first})", fix) from None


def load_state_dict(path: str | os.PathLike, what: str, fix: str) -> dict:
    """``torch.load(weights_only=True)`` of a state dict, a bad file as one ``WeightsUnavailable`` line."""
    import torch

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - UnpicklingError/RuntimeError/zip errors from torch
        first = (str(e).strip().splitlines() or [""])[0][:160]
        raise WeightsUnavailable(f"{what} weights at {path} cannot be loaded as a state dict "
                                 f"({type(e).__name__}: {first})", fix) from None
    if not isinstance(state, dict):
        raise WeightsUnavailable(f"{what} weights at {path} hold a {type(state).__name__}, not a state dict", fix)
    return state


@lru_cache(maxsize=64)
def _sha_cached(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a weight file, memoised per (path, size, mtime) within the process."""
    st = os.stat(path)
    return _sha_cached(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
