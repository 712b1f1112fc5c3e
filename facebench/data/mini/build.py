"""Building the mini set on disk (deterministic, crash- and race-safe) and the dataset class
that builds it on first use."""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import secrets
import shutil
import socket
import time
from pathlib import Path
from typing import Any, Callable

from facebench.data.local import LocalDataset
from facebench.data.mini.attributes import ATTRIBUTE_FAMILIES, sample_attributes
from facebench.data.mini.captions import caption_for
from facebench.data.mini.qa import qa_for
from facebench.data.mini.render import render_face
from facebench.errors import DatasetError
from facebench.hashing import canonical_json, sha256_file, sha256_text

MINI_VERSION = "2"
MANIFEST = "MANIFEST.json"
SPLITS = ("test", "gallery")

def _derive_seed(*parts: Any) -> int:
    """A 63-bit seed from any parts, stable across processes and platforms (never ``hash()``)."""
    return int.from_bytes(hashlib.sha256(canonical_json(list(parts)).encode()).digest()[:8], "big") >> 1


def make_sample(split: str, index: int, seed: int, size: int = 128) -> tuple[dict[str, Any], Any]:
    """The JSONL record and the image of sample ``index`` (1-based) of ``split``."""
    rng = random.Random(_derive_seed("facebench-mini", MINI_VERSION, seed, split, index))
    attrs = sample_attributes(rng)
    image_seed = rng.getrandbits(32)
    caption = caption_for(attrs, rng)
    qa = qa_for(attrs, rng)
    doc_id = f"mini-{split}-{index:04d}"
    rec = {"doc_id": doc_id, "image": f"images/{split}/{doc_id}.png", "caption": caption,
           "qa": [q.to_dict() for q in qa], "attributes": attrs}
    return rec, render_face(attrs, size=size, seed=image_seed)


def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:40] or "host"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _clean_stale(parent: Path, name: str, max_age_s: float = 86400.0) -> None:
    """Remove temp folders of builds that died (this host, dead pid) or are older than a day."""
    prefix = f".{name}.tmp-"
    for p in parent.glob(prefix + "*"):
        rest = p.name[len(prefix):]
        pid_s, _, tail = rest.partition("@")
        host = tail.rsplit(".", 1)[0]
        try:
            dead = host == _host_tag() and pid_s.isdigit() and not _pid_alive(int(pid_s))
            old = time.time() - p.stat().st_mtime > max_age_s
        except OSError:
            continue
        if dead or old:
            shutil.rmtree(p, ignore_errors=True)


def _write_split(tmp: Path, split: str, n: int, seed: int, size: int) -> tuple[str, str]:
    """Write one split; returns (sha256 of the JSONL, sha256 over ids and RGB pixels of its images)."""
    img_dir = tmp / "images" / split
    img_dir.mkdir(parents=True)
    pix = hashlib.sha256()
    lines = []
    for i in range(1, n + 1):
        rec, img = make_sample(split, i, seed, size)
        img.save(img_dir / f"{rec['doc_id']}.png", format="PNG")
        pix.update(f"{rec['doc_id']}\0{img.width}x{img.height}\0".encode())
        pix.update(img.tobytes())
        lines.append(json.dumps(rec, ensure_ascii=False, sort_keys=True))
    path = tmp / f"{split}.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return sha256_file(path), pix.hexdigest()


def build_atomically(root: str | Path, write: Callable[[Path], None]) -> Path:
    """Build a synthetic set at ``root`` with ``write(tmp_folder)`` (which must end by writing the
    MANIFEST), kept as is if ``root`` is already complete. The set is written to a temp folder beside
    ``root`` and renamed into place last, so a killed build never leaves a half-built ``root``, and
    of two concurrent builds the first to finish wins."""
    root = Path(root)
    if (root / MANIFEST).exists():
        return root
    parent = root.parent
    parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(parent, root.name)
    tmp = parent / f".{root.name}.tmp-{os.getpid()}@{_host_tag()}.{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        write(tmp)
        _publish(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def build_mini(root: str | Path, n_test: int = 150, n_gallery: int = 300, size: int = 128,
               seed: int = 20250311) -> Path:
    """Build the mini benchmark at ``root`` (kept as is if it is already complete; see
    ``build_atomically``)."""

    def write(tmp: Path) -> None:
        split_seeds = {"test": _derive_seed(seed, "test"), "gallery": _derive_seed(seed, "gallery")}
        counts = {"test": n_test, "gallery": n_gallery}
        files, images, combined = {}, {}, hashlib.sha256()
        for split in SPLITS:
            files[f"{split}.jsonl"], images[split] = _write_split(tmp, split, counts[split], split_seeds[split], size)
            combined.update(images[split].encode())
        manifest = {
            "name": "facebench-mini", "version": MINI_VERSION, "seed": seed, "size": size, "counts": counts,
            "files": files, "images_sha256": images, "images_sha256_all": combined.hexdigest(),
            "images_hash": "sha256 over doc_id, size and RGB pixel bytes of each image in order",
            "attribute_families": {k: list(v) for k, v in ATTRIBUTE_FAMILIES.items()},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    return build_atomically(root, write)


def _publish(tmp: Path, root: Path) -> None:
    try:
        os.rename(tmp, root)  # atomic; also replaces an empty folder
        return
    except OSError:
        if not root.exists():
            raise
    if (root / MANIFEST).exists():  # another build finished first: keep it
        shutil.rmtree(tmp, ignore_errors=True)
        return
    # ``root`` is a folder without a manifest (not one of ours): move it aside, then swap ours in
    aside = root.parent / f".{root.name}.tmp-{os.getpid()}@{_host_tag()}.old{secrets.token_hex(4)}"
    os.rename(root, aside)
    try:
        os.rename(tmp, root)
    except OSError:
        if not (root / MANIFEST).exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(aside, ignore_errors=True)


def default_root() -> Path:
    from facebench.paths import cache_root

    return cache_root() / "datasets" / f"mini-v{MINI_VERSION}"


class MiniDataset(LocalDataset):
    """The bundled mini benchmark (splits ``test`` and ``gallery``), built on first use. A sibling
    synthetic set (``mini-video``) subclasses it: ``name``, ``media_key`` (the manifest's content hash
    per split) and ``build``/``default_root``."""

    name = "mini"
    splits = SPLITS
    media_key = "images_sha256"

    @staticmethod
    def build(root: Path) -> Path:
        return build_mini(root)  # the module's function, looked up when called

    @staticmethod
    def default_root() -> Path:
        return default_root()

    def __init__(self, columns: dict[str, str] | None = None, root: str | Path | None = None, **_: Any):
        root = Path(root) if root is not None else self.default_root()
        if not (root / MANIFEST).exists():
            self.build(root)
        super().__init__(root, columns=columns)
        self.name = type(self).name
        try:
            self.manifest: dict[str, Any] = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise DatasetError(f"{self.name} benchmark manifest {root / MANIFEST} is unreadable ({e}); "
                               f"fix: delete {root} and it is rebuilt") from None

    def _check_split(self, split: str) -> None:
        if split not in self.manifest.get("counts", {}):
            raise DatasetError(f"the {self.name} benchmark has no split '{split}' (splits: {', '.join(self.splits)})")

    def load(self, split: str, limit: int | None = None):
        self._check_split(split)
        return super().load(split, limit=limit)

    def fingerprint(self, split: str) -> str:
        self._check_split(split)
        m = self.manifest
        return sha256_text(canonical_json([self.name, m["version"], m["files"][f"{split}.jsonl"],
                                           m[self.media_key][split], sorted(self.columns.items())]))[:16]

    def info(self) -> dict[str, Any]:
        m = self.manifest
        return {"name": self.name, "version": m.get("version"), "root": str(self.path), "counts": m.get("counts"),
                "size": m.get("size"), "seed": m.get("seed"), "columns": self.columns}
