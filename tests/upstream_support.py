"""Running baseline plugins against their real upstream research code (tests/test_upstream_*.py).

Those tests run only when ``FACEBENCH_UPSTREAM_DIR`` names a folder of upstream checkouts (``Show-o``,
``Janus``, ``LlamaGen``, ``OmniFlows``, each at the commit its plugin's ``environment`` pins) AND
the Python running pytest has that family's pinned packages (the plugin's
``environment.requirements``) installed at exactly those versions: run them with the interpreter of
the family's own environment. Otherwise they are skipped, saying which of the two is missing.

Helpers here also stand in for the outside world the reference scripts touch: a model-hub cache
folder holding tiny models under the ids the scripts hard-code (so ``from_pretrained("org/name")``
resolves offline), and a ``wandb`` module that writes what a script logs to a folder.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

ENV_VAR = "FACEBENCH_UPSTREAM_DIR"


def checkout(name: str, commit: str) -> Path:
    """The checkout ``$FACEBENCH_UPSTREAM_DIR/<name>``, or skip. A checkout at another commit than the
    pinned one is an error (the test would verify something else than it claims)."""
    root = os.environ.get(ENV_VAR)
    if not root:
        pytest.skip(f"{ENV_VAR} is not set (a folder holding a {name} checkout at {commit[:7]})")
    path = Path(root) / name
    if not path.is_dir():
        pytest.skip(f"no {name} checkout under {ENV_VAR}={root}")
    head = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    if head and head != commit:
        pytest.fail(f"{path} is at {head[:12]}, the plugin pins {commit[:12]}: git -C {path} checkout {commit}")
    return path


def require_pins(requirements: tuple[str, ...]) -> None:
    """Skip unless every ``name==version`` requirement is installed at exactly that version."""
    wrong = []
    for req in requirements:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)\s*", req)
        if not m:
            continue
        try:
            have = importlib.metadata.version(m.group(1))
        except importlib.metadata.PackageNotFoundError:
            have = "missing"
        if have != m.group(2):
            wrong.append(f"{m.group(1)} {have} (needs {m.group(2)})")
    if wrong:
        pytest.skip(f"not this family's environment ({sys.executable}): " + ", ".join(wrong))


def forget_modules(root: Path) -> None:
    """Drop the modules imported from ``root`` (research repos use generic names such as ``models``)."""
    r = str(root)
    for name, mod in list(sys.modules.items()):
        paths = getattr(mod, "__path__", None)
        where = [str(getattr(mod, "__file__", None) or "")]
        where += [str(p) for p in paths] if isinstance(paths, (list, tuple)) else []
        if any(w.startswith(r) for w in where):
            del sys.modules[name]
    sys.path[:] = [p for p in sys.path if not p.startswith(r)]


def hub_cache_model(cache: Path, repo_id: str, folder: Path) -> Path:
    """Lay ``folder``'s files out as the hub cache does for ``repo_id`` (``refs/main`` → snapshot), so
    code that calls ``from_pretrained(repo_id)`` finds them with ``HF_HUB_OFFLINE=1`` and
    ``HF_HUB_CACHE=cache``."""
    base = cache / ("models--" + repo_id.replace("/", "--"))
    snap = base / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True, exist_ok=True)
    for f in Path(folder).rglob("*"):
        if f.is_file():
            dest = snap / f.relative_to(folder)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dest)
    (base / "refs").mkdir(exist_ok=True)
    (base / "refs" / "main").write_text("0" * 40)
    return snap


@contextmanager
def hub_cache(cache: Path):
    """Point huggingface_hub (and transformers, which copies the path at import) at ``cache`` for the
    duration, in this process; subprocesses get ``HF_HUB_CACHE`` instead."""
    import huggingface_hub.constants as hc

    saved = [(hc, "HF_HUB_CACHE", hc.HF_HUB_CACHE)]
    hc.HF_HUB_CACHE = str(cache)
    try:
        import transformers.utils.hub as th

        saved.append((th, "TRANSFORMERS_CACHE", th.TRANSFORMERS_CACHE))
        th.TRANSFORMERS_CACHE = str(cache)
    except ImportError:
        pass
    try:
        yield cache
    finally:
        for mod, name, value in saved:
            setattr(mod, name, value)


FAKE_WANDB = '''
"""Stands in for wandb in reference scripts: logged images and captions go to $FAKE_WANDB_OUT."""
import json, os, types
util = types.SimpleNamespace(generate_id=lambda: "run0")
class Image:
    def __init__(self, image, caption=None):
        self.image, self.caption = image, caption
def init(*args, **kwargs):
    return None
def log(data, step=None):
    out = os.environ["FAKE_WANDB_OUT"]
    os.makedirs(out, exist_ok=True)
    for key, items in data.items():
        for i, item in enumerate(items if isinstance(items, list) else [items]):
            if isinstance(item, Image):
                item.image.save(os.path.join(out, f"{key}_{step}_{i}.png"))
                with open(os.path.join(out, f"{key}_{step}_{i}.json"), "w") as f:
                    json.dump({"caption": item.caption}, f)
'''


def write_fake_wandb(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "wandb.py").write_text(FAKE_WANDB)
    return folder


def logged(out: Path) -> list[tuple[Path, str | None]]:
    """(image file, caption) pairs the fake wandb wrote, in logging order."""
    return [(p, json.loads(p.with_suffix(".json").read_text())["caption"]) for p in sorted(out.glob("*.png"))]
