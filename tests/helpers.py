"""Shared test helpers: run the CLI in a subprocess, build small local datasets."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PLUGIN_PATH = Path(__file__).resolve().parent / "data" / "plugin_pkg"


def cli_env(extra_path: bool = True) -> dict[str, str]:
    env = dict(os.environ)
    env["FACEBENCH_NO_PROGRESS"] = "1"
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join([str(PLUGIN_PATH), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def run_cli(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "facebench", *args], capture_output=True, text=True,
                          timeout=timeout, env=env or cli_env(), cwd=str(REPO))


def make_local_dataset(root: Path, n: int = 6, size: int = 32) -> Path:
    """A tiny JSONL + PNG dataset with exact closed questions."""
    import numpy as np
    from PIL import Image

    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        color = "red" if i % 2 else "black"
        Image.fromarray(np.full((size, size, 3), i * 30, np.uint8)).save(root / "images" / f"{i}.png")
        rows.append({"doc_id": f"d{i}", "image": f"images/{i}.png", "caption": f"a person with {color} hair, number {i}",
                     "qa": [{"question": "What color is the hair?", "answer": color, "kind": "closed",
                             "family": "hair_color", "choices": ["red", "black"]}],
                     "attributes": {"hair_color": color}})
    (root / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def write_files(root: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: text}`` under ``root`` (fake research repos, task folders)."""
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def results_files(run_dir: Path) -> list[Path]:
    """A run folder's results files, oldest first."""
    from facebench.runner.layout import results_files as _rf

    return _rf(Path(run_dir))


def latest_results(run_dir: Path) -> dict:
    """The newest results_<stamp>.json of a run folder, parsed."""
    files = results_files(run_dir)
    assert files, f"no results_*.json in {run_dir}"
    return json.loads(files[-1].read_text())


def run_file(run_dir: Path, kind: str, task: str) -> Path:
    """The samples/predictions file of ``task`` written by the newest run that wrote one."""
    for f in reversed(results_files(run_dir)):
        name = (json.loads(f.read_text()).get("tasks", {}).get(task, {}).get("files") or {}).get(kind)
        if name:
            return Path(run_dir) / name
    raise AssertionError(f"no {kind} file for task {task} in {run_dir}")
