"""Extra files a family needs (vision towers, tokenizers, codebooks), fetched on first use.

Sources: ``hf://<owner>/<repo>[@revision]/<path in repo>`` through ``huggingface_hub`` (so its
cache, token and offline mode apply; ``hf://datasets/<owner>/<repo>/...`` for dataset repos) and
``https://`` (or ``http://``) URLs. A file lands as ``<files dir>/<name>`` via a temp file and a
rename, so a half-downloaded file is never mistaken for a finished one; when the spec knows the
file's sha256 it is checked before the rename.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from facebench.envs.spec import ExtraFile
from facebench.errors import FacebenchError


def parse_hf(source: str) -> tuple[str, str, str | None, str]:
    """``hf://owner/repo@rev/sub/file.pt`` → (repo_id, filename, revision, repo_type)."""
    rest = source[len("hf://"):]
    repo_type = "model"
    for kind in ("datasets", "spaces"):
        if rest.startswith(kind + "/"):
            repo_type, rest = kind[:-1], rest[len(kind) + 1:]
    parts = rest.split("/")
    if len(parts) < 3 or not all(parts):
        raise FacebenchError(f"bad hf:// source '{source}': expected hf://<owner>/<repo>[@revision]/<path>")
    name, _, rev = parts[1].partition("@")
    return f"{parts[0]}/{name}", "/".join(parts[2:]), rev or None, repo_type


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download_url(url: str, tmp: Path) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as r, open(tmp, "wb") as f:  # noqa: S310 (http(s) only)
            shutil.copyfileobj(r, f, 1 << 20)
    except (urllib.error.URLError, OSError) as e:
        raise FacebenchError(f"cannot download {url}: {getattr(e, 'reason', e)}") from None


def _download_hf(source: str, tmp: Path) -> None:
    repo_id, filename, revision, repo_type = parse_hf(source)
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise FacebenchError(f"fetching {source} needs huggingface_hub; fix: pip install huggingface_hub") from None
    try:
        got = hf_hub_download(repo_id, filename, revision=revision, repo_type=repo_type)
    except Exception as e:  # offline, missing file, gated repo: one line with the hub's reason
        raise FacebenchError(f"cannot fetch {source}: {type(e).__name__}: {' '.join(str(e).split())[:300]}") from None
    shutil.copyfile(got, tmp)


def fetch(f: ExtraFile, files_dir: Path) -> Path:
    """Make ``files_dir/f.name`` present (and hash-checked when ``f.sha256`` is known)."""
    dest = files_dir / f.name
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if f.source.startswith("hf://"):
            _download_hf(f.source, tmp)
        elif f.source.startswith(("https://", "http://")):
            _download_url(f.source, tmp)
        else:
            raise FacebenchError(f"file '{f.name}': unknown source '{f.source}' (use hf://owner/repo/path or https://)")
        if f.sha256:
            got = sha256_of(tmp)
            if got != f.sha256.lower():
                raise FacebenchError(f"file '{f.name}' from {f.source} has sha256 {got}, expected {f.sha256}: "
                                     "not kept (a changed or corrupt download)")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def missing(files: tuple[ExtraFile, ...], files_dir: Path) -> list[ExtraFile]:
    return [f for f in files if not (files_dir / f.name).is_file()]
