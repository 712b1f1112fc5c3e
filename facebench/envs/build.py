"""Build, inspect and remove a family's environment under ``<facebench cache>/envs/<name>-<hash>``.

Layout of one environment folder::

    venv/            the Python environment the worker runs in
    upstream/<repo>  the upstream code at its pinned commit (when the spec names one)
    files/           extra files (fetched on first use)
    requirements.txt what was asked for;  lock.txt  what was installed in venv/ (name==version)
    build.log        pip's output;        env.json  the manifest, written last: present = built

**Layered** (the default when the spec's Python is the running one's major.minor): ``venv/`` is
created without pip and gets a ``.pth`` file that appends facebench's own site-packages *after*
its own (``site.addsitedir``, so editable installs there keep working). pip is then run with the
layer's Python, so it sees facebench's packages as installed: a requirement they already
satisfy (torch, numpy, pillow) is reused, and only packages whose pins differ (an older
transformers, its huggingface-hub and tokenizers) are installed — into the layer, which comes
first on ``sys.path``. pip never removes anything outside the layer ("Not uninstalling ...
outside environment"). It is pip itself (from facebench's environment), so the package sources
are exactly pip's on this machine: ``pip.conf``, ``PIP_*`` variables, find-links and constraint
files. uv would be faster at resolving but only counts packages in the venv's own site-packages
as installed, so it would download its own multi-GB torch for any requirement that depends on
torch; that defeats the layer.

**Full** (``EnvSpec.layered=False``, or a Python version other than the running one): a standalone
venv with pip, every requirement and facebench's light core dependencies installed, and facebench
itself linked in (it runs the same facebench code as the parent).

The folder name hashes the spec's build inputs plus the parent environment (``sys.prefix``; inside
an environment, the one its venv's marker names), so two facebench installs never share a layer
built over the other's packages, and a spec maps to the same folder from both sides.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from facebench.envs import files as F
from facebench.envs.spec import EnvSpec
from facebench.envs.upstream import checkout, head_commit, repo_parts
from facebench.errors import FacebenchError
from facebench.hashing import canonical_json, sha256_text
from facebench.paths import cache_root

LAYOUT_VERSION = 1
BASE_PTH = "_facebench_base.pth"

# Runs inside an environment's Python: every distribution it sees, the first on sys.path winning
# (which is the one ``import`` gets), with where it lives and a hash of its RECORD.
_PROBE = r"""
import hashlib, json, re, sys
from importlib import metadata
seen = {}
for d in metadata.distributions():
    name = re.sub(r"[-_.]+", "-", (d.metadata["Name"] or "")).lower()
    if not name or name in seen:
        continue
    rec = d.read_text("RECORD") or ""
    seen[name] = {"version": d.version, "location": str(d.locate_file("")),
                  "record": hashlib.sha256(rec.encode()).hexdigest()[:16]}
print(json.dumps({"python": sys.version.split()[0], "prefix": sys.prefix, "dists": seen}))
"""


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def running_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def is_layered(spec: EnvSpec) -> bool:
    same = spec.python == running_python()
    if spec.layered is True and not same:
        raise FacebenchError(f"environment '{spec.name}' asks for a layer over facebench's Python {running_python()} "
                             f"but pins Python {spec.python}; fix: set layered=False or python='{running_python()}'")
    return same if spec.layered is None else bool(spec.layered)


MARKER = "facebench-env.json"  # in each environment's venv: which facebench environment it layers over


def base_prefix() -> str:
    """The environment facebench runs from — or, inside a facebench environment, the one that
    environment was built over, so a spec maps to the same folder from both sides."""
    marker = Path(sys.prefix) / MARKER
    try:
        return json.loads(marker.read_text())["base_prefix"]
    except (OSError, ValueError, KeyError):
        return sys.prefix


def running_inside(spec: EnvSpec) -> bool:
    """Is this Python the venv of ``spec``'s environment (wherever its cache folder is)?"""
    try:
        return json.loads((Path(sys.prefix) / MARKER).read_text()).get("key") == env_key(spec)
    except (OSError, ValueError):
        return False


def env_key(spec: EnvSpec) -> str:
    """Hash of everything that changes what gets built (not the notes or the verified record)."""
    payload = {
        "layout": LAYOUT_VERSION, "python": spec.python, "requirements": sorted(spec.requirements),
        "upstream": [spec.upstream.repo, spec.upstream.commit, list(spec.upstream.subdirs)] if spec.upstream else None,
        "files": sorted([f.name, f.source, f.sha256 or ""] for f in spec.files),
        "layered": is_layered(spec), "base": base_prefix(),
    }
    return sha256_text(canonical_json(payload))[:12]


@dataclass(frozen=True)
class EnvPaths:
    root: Path

    @property
    def venv(self) -> Path:
        return self.root / "venv"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def files(self) -> Path:
        return self.root / "files"

    @property
    def upstream(self) -> Path:
        return self.root / "upstream"

    @property
    def manifest(self) -> Path:
        return self.root / "env.json"

    def site_packages(self) -> Path:
        return self.venv / "lib" / f"python{self._pyver()}" / "site-packages"

    def _pyver(self) -> str:
        libs = sorted((self.venv / "lib").glob("python3*"))
        return libs[0].name[len("python"):] if libs else running_python()


def envs_root() -> Path:
    return cache_root() / "envs"


def env_paths(spec: EnvSpec) -> EnvPaths:
    return EnvPaths(envs_root() / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', spec.name)}-{env_key(spec)}")


def load_manifest(spec: EnvSpec) -> dict[str, Any] | None:
    p = env_paths(spec).manifest
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def upstream_path(spec: EnvSpec) -> Path | None:
    if spec.upstream is None:
        return None
    return env_paths(spec).upstream / repo_parts(spec.upstream.repo)[1]


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One build of an environment at a time (two torchrun ranks may ask together)."""
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def probe(python: Path, timeout: float = 120) -> dict[str, Any]:
    r = subprocess.run([str(python), "-c", _PROBE], capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, "PYTHONPATH": ""})
    if r.returncode != 0:
        raise FacebenchError(f"the environment's Python {python} does not run: {r.stderr.strip()[-300:]}")
    return json.loads(r.stdout)


def unmet_pins(requirements: tuple[str, ...] | list[str], dists: dict[str, dict[str, Any]]) -> list[str]:
    """Requirements the visible distributions do not satisfy (``name==x`` → ``"name==x (have y)"``)."""
    from packaging.requirements import Requirement

    bad = []
    for text in requirements:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate():
            continue
        have = dists.get(normalize(req.name), {}).get("version")
        if have is None or not req.specifier.contains(have, prereleases=True):
            bad.append(f"{text} (have {have or 'none'})")
    return bad


def _interpreter(spec: EnvSpec, layered: bool) -> str:
    if layered or spec.python == running_python():
        return sys.executable  # `-m venv` from a venv makes a venv of the same base interpreter
    exe = shutil.which(f"python{spec.python}")
    if exe is None:
        raise FacebenchError(f"environment '{spec.name}' needs Python {spec.python}, which is not on PATH; fix: install "
                             f"python{spec.python} (e.g. apt-get install python{spec.python} or pyenv install "
                             f"{spec.python}) and build again")
    return exe


def _pip(python: Path, args: list[str], log: Path, timeout: float = 3600) -> str:
    cmd = [str(python), "-m", "pip", "install", "--no-input", "--disable-pip-version-check", "--progress-bar", "off", *args]
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                           env={**os.environ, "PYTHONPATH": ""})
        f.write(r.stdout)
    if r.returncode != 0:
        tail = " | ".join(line.strip() for line in r.stdout.strip().splitlines()[-3:])
        raise FacebenchError(f"pip could not install the environment's requirements ({tail}); full log: {log}")
    return r.stdout


def _facebench_links(site: Path) -> None:
    """A full environment runs the parent's facebench code: link its packages in through a .pth."""
    import importlib.util

    links = site.parent.parent.parent / "facebench-src"
    links.mkdir(exist_ok=True)
    for pkg in ("facebench", "facebench_baselines"):
        found = importlib.util.find_spec(pkg)
        if found is None or not found.submodule_search_locations:
            continue
        target = Path(list(found.submodule_search_locations)[0])
        link = links / pkg
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target, target_is_directory=True)
    (site / "_facebench_src.pth").write_text(str(links) + "\n")


def _core_requirements() -> list[str]:
    """facebench's own light dependencies (no extras), for a full environment."""
    from importlib import metadata

    try:
        reqs = metadata.requires("facebench") or []
    except metadata.PackageNotFoundError:
        return ["numpy", "pillow", "pyyaml", "tqdm"]
    return [r for r in reqs if "extra ==" not in r]


@dataclass
class BuildResult:
    path: Path
    manifest: dict[str, Any]
    fresh: bool  # built now (False: it was already there)
    messages: list[str] = field(default_factory=list)


def apply_site_patches(spec: EnvSpec, upstream: Path | None, site: Path) -> dict[str, int]:
    """``extra["copy_into_site_packages"] = {"<folder in the checkout>": "<package>"}``: copy the
    upstream's replacement files over the layer's own copy of that package (VILA and VILA-U ship a
    ``transformers_replace`` folder their install script copies over transformers). Only a package
    installed in the layer is patched, never the main environment's. Returns {package: files copied}."""
    plan = (spec.extra or {}).get("copy_into_site_packages") or {}
    out: dict[str, int] = {}
    for src_rel, package in plan.items():
        src = (upstream / src_rel) if upstream is not None else None
        dst = site / package
        if src is None or not src.is_dir():
            raise FacebenchError(f"environment '{spec.name}': the upstream checkout has no folder '{src_rel}' to copy "
                                 f"into {package}")
        if not (dst / "__init__.py").is_file():
            raise FacebenchError(f"environment '{spec.name}': '{package}' is not installed in the environment's own "
                                 f"site-packages, so its files cannot be replaced; fix: pin {package} in the "
                                 "family's requirements")
        n = 0
        for f in sorted(src.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:
                target = dst / f.relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, target)
                n += 1
        out[package] = n
    return out


def build(spec: EnvSpec, force: bool = False, say: Callable[[str], None] = lambda s: None) -> BuildResult:
    """Create the environment for ``spec`` (no-op when it is built and ``force`` is False)."""
    paths = env_paths(spec)
    layered = is_layered(spec)
    with _locked(paths.root):
        old = load_manifest(spec)
        if old is not None and not force and paths.python.exists():
            ensure_files(spec)
            return BuildResult(paths.root, old, fresh=False)
        if paths.root.exists():
            shutil.rmtree(paths.root)
        paths.root.mkdir(parents=True)
        t0 = time.perf_counter()
        seconds: dict[str, float] = {}
        say(f"creating {'a layered' if layered else 'a full'} environment in {paths.root}")
        interp = _interpreter(spec, layered)
        venv_args = [interp, "-m", "venv", str(paths.venv)] + (["--without-pip"] if layered else [])
        r = subprocess.run(venv_args, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
        if r.returncode != 0:
            raise FacebenchError(f"cannot create a venv with {interp}: {r.stderr.strip()[-300:]}")
        (paths.venv / MARKER).write_text(json.dumps({"name": spec.name, "key": env_key(spec),
                                                     "base_prefix": base_prefix()}))
        site = paths.site_packages()
        base_sites: list[str] = []
        if layered:
            import site as site_mod

            base_sites = [p for p in site_mod.getsitepackages() if Path(p).is_dir()]
            (site / BASE_PTH).write_text("".join(f"import site; site.addsitedir({p!r})\n" for p in base_sites))
        else:
            _facebench_links(site)
        seconds["venv"] = time.perf_counter() - t0
        reqs = list(spec.requirements) + ([] if layered else _core_requirements())
        (paths.root / "requirements.txt").write_text("".join(r + "\n" for r in reqs))
        conflicts: list[str] = []
        t1 = time.perf_counter()
        if reqs:
            say(f"installing with pip: {' '.join(reqs)}")
            out = _pip(paths.python, ["-r", str(paths.root / "requirements.txt")], paths.root / "build.log")
            # pip's notes about packages of the base environment that the layer now shadows
            conflicts = [line.strip() for line in out.splitlines() if "but you have" in line]
        seconds["pip"] = time.perf_counter() - t1
        seen = probe(paths.python)
        venv_prefix = str(paths.venv.resolve())
        dists = seen["dists"]
        installed = {n: d for n, d in dists.items() if str(Path(d["location"]).resolve()).startswith(venv_prefix)}
        unmet = unmet_pins(spec.requirements, dists)
        if unmet:
            raise FacebenchError(f"environment '{spec.name}' built but its pins are not met: {', '.join(unmet)}")
        (paths.root / "lock.txt").write_text("".join(f"{n}=={d['version']}\n" for n, d in sorted(installed.items())))
        t2 = time.perf_counter()
        upstream = None
        if spec.upstream is not None:
            say(f"checking out {spec.upstream.repo} at {spec.upstream.commit[:12]}")
            upstream = checkout(spec.upstream, upstream_path(spec))  # type: ignore[arg-type]
        patched = apply_site_patches(spec, upstream_path(spec), paths.site_packages()) if spec.upstream else {}
        seconds["upstream"] = time.perf_counter() - t2
        seconds["total"] = time.perf_counter() - t0
        manifest = {
            "layout": LAYOUT_VERSION, "name": spec.name, "key": env_key(spec), "layered": layered,
            "python": seen["python"], "interpreter": interp, "base_prefix": base_prefix(), "base_sites": base_sites,
            "requirements": list(spec.requirements), "installed": installed,
            "visible": {n: {"version": d["version"], "in_layer": n in installed} for n, d in dists.items()},
            "shadowed_conflicts": conflicts, "upstream": upstream, "patched": patched,
            "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seconds": {k: round(v, 2) for k, v in seconds.items()},
        }
        tmp = paths.manifest.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
        os.replace(tmp, paths.manifest)
    msgs = []
    if installed:
        msgs.append("installed in the environment: " + ", ".join(f"{n}=={d['version']}" for n, d in sorted(installed.items())))
    from packaging.requirements import Requirement

    reused = sorted({normalize(Requirement(r).name) for r in spec.requirements} & set(dists) - set(installed))
    if reused and layered:
        msgs.append("reused from facebench's environment: " + ", ".join(f"{n}=={dists[n]['version']}" for n in reused))
    ensure_files(spec, say)
    return BuildResult(paths.root, manifest, fresh=True, messages=msgs)


def ensure_files(spec: EnvSpec, say: Callable[[str], None] = lambda s: None) -> list[Path]:
    """Fetch the spec's extra files that are not there yet (first use); returns their paths."""
    files_dir = env_paths(spec).files
    for f in F.missing(spec.files, files_dir):
        say(f"fetching {f.name} from {f.source}")
        F.fetch(f, files_dir)
    return [files_dir / f.name for f in spec.files]


@dataclass
class EnvStatus:
    spec: EnvSpec
    path: Path
    built: bool
    problems: list[str] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    python: str | None = None
    upstream_commit: str | None = None
    files_present: int = 0

    @property
    def ok(self) -> bool:
        return self.built and not self.problems


def verify(spec: EnvSpec) -> EnvStatus:
    """Check a built environment against its lock: the layer's packages unchanged (versions and
    RECORD hashes), the base packages it reused unchanged, every pin met, the upstream checkout at
    its commit, the extra files present."""
    paths = env_paths(spec)
    man = load_manifest(spec)
    st = EnvStatus(spec, paths.root, built=man is not None and paths.python.exists(), manifest=man)
    st.files_present = sum((paths.files / f.name).is_file() for f in spec.files)
    if not st.built:
        return st
    assert man is not None
    try:
        seen = probe(paths.python)
    except (FacebenchError, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
        st.problems.append(str(e))
        return st
    st.python = seen["python"]
    dists = seen["dists"]
    for name, rec in man.get("installed", {}).items():
        now = dists.get(name)
        if now is None or now["version"] != rec["version"] or now.get("record") != rec.get("record"):
            st.problems.append(f"{name} {rec['version']} changed in the environment "
                               f"(now {now['version'] if now else 'missing'})")
    for name, rec in man.get("visible", {}).items():
        if rec.get("in_layer"):
            continue
        now = dists.get(name)
        if now is None or now["version"] != rec["version"]:
            st.problems.append(f"{name} {rec['version']} of facebench's environment changed "
                               f"(now {now['version'] if now else 'missing'})")
    st.problems.extend(f"pin not met: {u}" for u in unmet_pins(spec.requirements, dists))
    if spec.upstream is not None:
        up = upstream_path(spec)
        st.upstream_commit = head_commit(up) if up and up.exists() else None
        if not (st.upstream_commit or "").startswith(spec.upstream.commit):
            st.problems.append(f"upstream checkout at {st.upstream_commit or 'missing'}, pinned {spec.upstream.commit[:12]}")
    return st


def remove(spec: EnvSpec) -> bool:
    paths = env_paths(spec)
    if not paths.root.exists():
        return False
    with _locked(paths.root):
        shutil.rmtree(paths.root)
    return True


def disk_usage(path: Path) -> int:
    """Bytes used under ``path`` (each inode once; symlinks not followed)."""
    total, seen = 0, set()
    for dirpath, _dirs, names in os.walk(path):
        for n in names:
            try:
                st = os.lstat(os.path.join(dirpath, n))
            except OSError:
                continue
            if st.st_ino in seen:
                continue
            seen.add(st.st_ino)
            total += st.st_blocks * 512
    return total
