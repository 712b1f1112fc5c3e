"""facebench/adapters/research.py: importing research code from the environment or a user path,
the errors when it is absent or broken, code revisions, and the batching/seeding contract of
``ResearchAdapter`` (exercised with a minimal in-test family)."""
from __future__ import annotations

import subprocess
from typing import Any, ClassVar

import numpy as np
import pytest

from facebench.adapters.research import (
    AttrDict,
    ResearchAdapter,
    ResearchCodeMissing,
    code_revision,
    import_research,
    to_pil,
)
from facebench.errors import FacebenchError
from facebench.types import ChatRequest, GenRequest
from tests.helpers import write_files as _write


def test_import_from_code_path_and_subdirs(tmp_path, clean_imports):
    _write(tmp_path / "repo", {"fbr_pkg_a/__init__.py": "VALUE = 1\n", "sub/fbr_pkg_b.py": "VALUE = 2\n"})
    mod = import_research("fbr_pkg_a", family="Fam", install="clone it", code_path=tmp_path / "repo")
    assert mod.VALUE == 1
    mod_b = import_research("fbr_pkg_b", family="Fam", install="clone it", code_path=tmp_path / "repo",
                            subdirs=("", "sub"))
    assert mod_b.VALUE == 2


def test_missing_code_names_what_to_install(tmp_path, clean_imports):
    with pytest.raises(ResearchCodeMissing, match="Fam research code not found.*git clone https://x/y"):
        import_research("fbr_absent_pkg", family="Fam", install="git clone https://x/y and pass code_path=...")
    with pytest.raises(ResearchCodeMissing, match="not a folder"):
        import_research("fbr_absent_pkg", family="Fam", install="clone", code_path=tmp_path / "nope")
    assert issubclass(ResearchCodeMissing, FacebenchError)


def test_broken_dependency_is_not_reported_as_missing_code(tmp_path, clean_imports):
    _write(tmp_path / "repo", {"fbr_pkg_c/__init__.py": "import fbr_dependency_not_installed\n"})
    with pytest.raises(FacebenchError, match="needs 'fbr_dependency_not_installed'.*requirements") as e:
        import_research("fbr_pkg_c", family="Fam", install="clone", code_path=tmp_path / "repo")
    assert not isinstance(e.value, ResearchCodeMissing)


def test_code_revision_git_and_file(tmp_path, clean_imports):
    repo = _write(tmp_path / "repo", {"fbr_pkg_d/__init__.py": "X = 1\n"})
    mod = import_research("fbr_pkg_d", family="F", install="i", code_path=repo)
    assert code_revision(None, mod).startswith("file:")
    try:
        for cmd in (["init", "-q"], ["add", "."], ["-c", "user.email=a@b", "-c", "user.name=t", "commit", "-qm", "x"]):
            subprocess.run(["git", "-C", str(repo), *cmd], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git not available")
    rev = code_revision(repo)
    assert rev.startswith("git:") and not rev.endswith("-dirty")
    (repo / "fbr_pkg_d" / "__init__.py").write_text("X = 2\n")
    assert code_revision(repo) == rev + "-dirty"


def test_attrdict_and_to_pil():
    cfg = AttrDict(model={"showo": {"n": 3}}, x=1)
    assert cfg.model.showo.n == 3 and cfg.get("x") == 1 and cfg.get("y", 5) == 5
    with pytest.raises(AttributeError):
        _ = cfg.missing
    chw = np.full((3, 4, 5), -1.0, np.float32)
    chw[0] = 1.0
    img = to_pil(chw, value_range=(-1, 1))
    assert img.size == (5, 4) and img.getpixel((0, 0)) == (255, 0, 0)
    assert to_pil(np.zeros((2, 2, 3), np.uint8)).getpixel((1, 1)) == (0, 0, 0)
    assert to_pil(np.ones((1, 3, 2, 2), np.float32)).getpixel((0, 0)) == (255, 255, 255)  # [0,1] guessed


class _Toy(ResearchAdapter):
    """A family whose 'research code' is numpy: checks the base class's contract, not a model."""

    name: ClassVar[str] = "toy"
    family: ClassVar[str] = "Toy"
    capabilities: ClassVar[frozenset[str]] = frozenset({"generate", "understand"})
    default_checkpoint: ClassVar[str | None] = "org/toy"
    default_args: ClassVar[dict[str, Any]] = {"strength": 2}

    def _load(self) -> None:
        self.loads = getattr(self, "loads", 0) + 1

    def _generate_one(self, prompt, seed, params):
        rng = np.random.default_rng(seed + len(prompt) * int(self.param(params, "strength")))
        return to_pil(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))

    def _answer_one(self, image, messages, params):
        return f" {messages[-1]['content']} {image.size if image is not None else None} "


def test_research_adapter_contract(tmp_path):
    from PIL import Image

    a = _Toy(pretrained=str(tmp_path / "ckpt"))
    assert a.model_args["strength"] == 2 and a.info()["settings"] == {"strength": 2}
    reqs = [GenRequest("a", "x", n=2, seed=1, width=12, height=6), GenRequest("b", "yy", n=1, seed=1)]
    out = a.generate_images(reqs)
    assert [len(o) for o in out] == [2, 1] and out[0][0].size == (12, 6) and out[1][0].size == (512, 512)
    assert a.generate_images(list(reversed(reqs)))[::-1][0][1].tobytes() == out[0][1].tobytes()
    alone = a.generate_images([GenRequest("a", "x", n=1, seed=2, width=12, height=6)])[0][0]
    assert alone.tobytes() == out[0][1].tobytes()
    p = tmp_path / "f.png"
    Image.new("RGB", (7, 3)).save(p)
    assert a.answer([ChatRequest("d", p, ({"role": "user", "content": "q?"},))]) == ["q? (7, 3)"]
    assert a.loads == 1  # loaded once, lazily
    assert a.fingerprint() == _Toy(pretrained=str(tmp_path / "ckpt"), batch_size=9).fingerprint()
    assert a.fingerprint() != _Toy(pretrained=str(tmp_path / "ckpt"), strength=3).fingerprint()
    a.close()
    assert _Toy().pretrained == "org/toy"


def test_research_adapter_without_default_needs_pretrained():
    class NoDefault(_Toy):
        default_checkpoint: ClassVar[str | None] = None
        description: ClassVar[str] = "weights not public"

    with pytest.raises(FacebenchError, match="needs --model_args pretrained=.*weights not public"):
        NoDefault()
