"""Which reference ``legacy_pytorch`` FID matches: pytorch-fid's pipeline (equal), not torchmetrics'
(same weights, different preprocessing: about 4% apart on these images). Random-init FID-Inception
weights saved in pytorch-fid's file format are given to facebench, to pytorch-fid's network
(clean-fid's copy of it) and to torchmetrics' ``FrechetInceptionDistance``
(``feature_extractor_weights_path=``).

torchmetrics' Inception needs ``torch-fidelity``, which is not a facebench test dependency: its wheel
installs a top-level ``tests`` package that shadows this repository's ``tests`` (``from tests.helpers
import ...`` then fails). That comparison is skipped unless torch-fidelity is installed; it was run
with torch-fidelity 0.4.0 + torchmetrics 1.9.0 (legacy_pytorch 4.05% / 4.46% above torchmetrics with
antialias=True / False on these images)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

N = 5


def _write(folder: Path, seed: int, offset: int) -> list[Path]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(seed)
    out = []
    for i in range(N):
        base = rng.randint(0, 255, (8, 8, 3)).astype(np.uint8)
        w, h = 72, 56  # smaller than 299 and non-square: the resize matters (one size: batches stack)
        arr = np.asarray(Image.fromarray(base).resize((w, h), Image.BILINEAR)).astype(int) + offset
        p = folder / f"img_{i}.png"
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(p)
        out.append(p)
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from tiny_metric_models import build_random_inception

    from facebench.metrics.features.inception import InceptionExtractor

    root = tmp_path_factory.mktemp("inception_refs")
    weights = build_random_inception(root / "weights")
    out = {"pt": weights["pytorch"], "gen": _write(root / "gen", 0, 0), "ref": _write(root / "ref", 1, 40)}
    feats = InceptionExtractor("legacy_pytorch", weights=out["pt"]).extract_paths(
        out["gen"] + out["ref"], batch_size=2 * N).features
    out["ours"] = (feats[:N], feats[N:])
    return out


def _pytorch_fid_features(paths: list[Path], pt: Path) -> np.ndarray:
    """pytorch-fid's pipeline (pytorch_fid/fid_score.py ``ImagePathDataset`` + ``TF.ToTensor``;
    pytorch_fid/inception.py ``InceptionV3.forward`` with its defaults ``resize_input=True``,
    ``normalize_input=True``): [0, 1] input, bilinear resize to 299 (align_corners=False), 2x − 1,
    pool3 features. The network is clean-fid's copy of pytorch-fid's ``InceptionV3`` holding our file."""
    import cleanfid.inception_pytorch as cip
    import torch
    import torch.nn.functional as F
    from PIL import Image

    orig = cip.load_state_dict_from_url
    cip.load_state_dict_from_url = lambda *a, **k: torch.load(pt, weights_only=True)
    try:
        net = cip.InceptionV3(output_blocks=[3], resize_input=False, normalize_input=False).eval()
    finally:
        cip.load_state_dict_from_url = orig
    x = torch.stack([torch.from_numpy(np.asarray(Image.open(p).convert("RGB")).astype(np.float32) / 255.0)
                     for p in paths]).permute(0, 3, 1, 2)
    with torch.no_grad():
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        return net(2 * x - 1)[0].reshape(len(paths), -1).numpy()


def test_legacy_pytorch_equals_pytorch_fid_pipeline(data):
    from facebench.metrics.frechet import fid_from_features

    gen, ref = data["ours"]
    pf = _pytorch_fid_features(data["gen"] + data["ref"], data["pt"])
    pf_gen, pf_ref = pf[:N], pf[N:]
    assert np.abs(gen - pf_gen).max() <= 1e-4 * max(1.0, np.abs(pf_gen).max())
    ours, theirs = fid_from_features(gen, ref), fid_from_features(pf_gen, pf_ref)
    assert ours > 1.0 and abs(ours - theirs) / theirs < 1e-5


@pytest.mark.parametrize("antialias", [True, False])
def test_legacy_pytorch_is_not_torchmetrics_fid_the_difference_is_preprocessing(data, antialias):
    """torchmetrics (= torch-fidelity's network) on the same weights differs from legacy_pytorch;
    the same network fed torchmetrics' preprocessing — uint8 resized as float with antialiased
    bilinear (its default since 1.8) or torch-fidelity's TF1-style bilinear (``antialias=False``),
    then (x − 128)/128 — reproduces torchmetrics' features, so weights and network agree and only
    the preprocessing differs."""
    pytest.importorskip("torch_fidelity", reason="torchmetrics' FID Inception needs torch-fidelity (see module doc)")
    import torch
    import torch.nn.functional as F
    from PIL import Image
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x
    from torchmetrics.image.fid import FrechetInceptionDistance

    from facebench.metrics.features.inception import build_pytorch_fid_inception, pool_features_module
    from facebench.metrics.frechet import fid_from_features

    x_u8 = torch.stack([torch.from_numpy(np.asarray(Image.open(p).convert("RGB")).copy())
                        for p in data["gen"] + data["ref"]]).permute(0, 3, 1, 2).contiguous()
    # torchmetrics' own feature extractor (NoTrainInceptionV3: torch-fidelity's network and its
    # preprocessing); its Fréchet distance is checked against ours in test_metrics_gen_frechet.py,
    # and its 2048-d general eigenproblem takes minutes on 2 cores, so the features are compared.
    tm = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=str(data["pt"]), antialias=antialias)
    with torch.no_grad():
        tm_all = tm.inception(x_u8).double().numpy()
    tm_value = fid_from_features(tm_all[:N], tm_all[N:])

    net = build_pytorch_fid_inception()
    net.load_state_dict(torch.load(data["pt"], weights_only=True))
    layers = pool_features_module(net).eval()
    with torch.no_grad():
        x = x_u8.float()
        if antialias:
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False, antialias=True)
        else:
            x = interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False)
        rebuilt_all = layers((x - 128) / 128).reshape(2 * N, -1).double().numpy()
    assert np.abs(rebuilt_all - tm_all).max() <= 1e-4 * max(1.0, np.abs(tm_all).max())
    assert abs(fid_from_features(rebuilt_all[:N], rebuilt_all[N:]) - tm_value) / tm_value < 1e-4

    gen, ref = data["ours"]
    ours = fid_from_features(gen, ref)
    assert abs(ours - tm_value) / tm_value > 5e-3, (ours, tm_value)  # legacy_pytorch is not torchmetrics' FID
    print(f"legacy_pytorch {ours:.6g} vs torchmetrics(antialias={antialias}) {tm_value:.6g}: "
          f"{100 * (ours - tm_value) / tm_value:+.2f}%")
