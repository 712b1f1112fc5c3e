"""FID / KID (and Fréchet distances on other features: FD-CLIP, FD-dlib) between a task's
generated images and the real images of its dataset split.

Args (task YAML ``args`` or ``--metric_args KEY.arg=value``):
  ``extractor``   inception (default) | clip | dlib
  ``mode``        inception only: clean (default) | legacy_tensorflow | legacy_pytorch
  ``weights``     local weight file (Inception .pt/.pth, or an open_clip checkpoint); env vars:
                  FACEBENCH_INCEPTION_WEIGHTS (clean/legacy_tensorflow), FACEBENCH_INCEPTION_PT_WEIGHTS
                  (legacy_pytorch), FACEBENCH_CLIP_CHECKPOINT[_<MODEL>] (clip). dlib needs none.
  ``model``/``pretrained``  clip only (default ViT-B-32 / openai)
  ``no_face``     dlib only: whole_image (default: images without a detected face are embedded
                  with the whole image as the face box, and counted) | skip (left out, counted)
  ``batch_size``  images per forward pass (does not change the value)
  ``min_n``       warn below this many images (default: the feature dimension, 2048 for Inception)
  ``jackknife``   FID CI from a delete-a-group jackknife with this many groups (default 20 when the
                  feature dim ≤ 1024, else 0 = no CI: each group costs one d×d Fréchet distance)
  KID only: ``num_subsets`` (100), ``subset_size`` (1000).

Reference statistics (features, mean, covariance) are cached under
``cache_root()/fid_stats/`` keyed by (reference-set content hash, extractor fingerprint incl.
weight sha256 and resize, N). FID/KID are set-level numbers (``aggregate="set"``), no per-item
scores and no per-attribute breakdown. Without weights offline the metric is skipped with the
file to fetch; it never reports a number it did not compute.
"""
from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from facebench.cache import KVCache
from facebench.hashing import content_key, sha256_file, sha256_text
from facebench.images import atomic_write_bytes, atomic_write_text
from facebench.metrics.base import Metric, MetricContext
from facebench.metrics.frechet import fid_from_features, jackknife_fid, kernel_distance, mean_cov
from facebench.paths import cache_root
from facebench.types import MetricValue, Prediction

log = logging.getLogger(__name__)

STATS_VERSION = 1


# ------------------------------------------------------------------------------------------ helpers
def file_digest(path: str | Path, memo: KVCache | None = None) -> str:
    """sha256 of an image file, memoised on (path, size, mtime) so a large reference set is
    hashed once, not on every run."""
    p = Path(path)
    st = p.stat()
    key = f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    if memo is not None:
        hit = memo.get(key)
        if isinstance(hit, str):
            return hit
    digest = sha256_file(p)
    if memo is not None:
        memo.put(key, digest)
    return digest


def canonical_image_set(paths: list[Path], memo: KVCache | None = None) -> tuple[str, list[Path]]:
    """(content hash of the set, the paths in a canonical order). The order is by content, so the
    cached reference features — and KID's subset draws over them — do not depend on the order in
    which a dataset lists its images."""
    keyed = sorted((file_digest(p, memo), str(p)) for p in paths)
    return sha256_text("\n".join(d for d, _ in keyed)), [Path(p) for _, p in keyed]


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


class _RefStats:
    def __init__(self, features: np.ndarray, mu: np.ndarray, sigma: np.ndarray, info: dict[str, Any], hit: bool):
        self.features, self.mu, self.sigma, self.info, self.cache_hit = features, mu, sigma, info, hit


# --------------------------------------------------------------------------------------- metrics
class _DistributionMetric(Metric):
    kind = "generation"
    higher_is_better = False
    small_n_effect = "the value is unstable"

    def __init__(self, key: str | None = None, **args: Any):
        super().__init__(key, **args)
        self.extractor_name = str(args.get("extractor", "inception"))
        self.mode = args.get("mode") or ("clean" if self.extractor_name == "inception" else None)

    @property
    def variant(self) -> str:
        if self.extractor_name == "inception":
            return f"{self.name}:inception-{self.mode}"
        if self.extractor_name == "clip":
            return f"{self.name}:clip-{self.args.get('model') or 'ViT-B-32'}"
        return f"{self.name}:{self.extractor_name}"

    # -- pieces ---------------------------------------------------------------------------------
    def _build_extractor(self, ctx: MetricContext):
        from facebench.metrics.features import build_extractor

        return build_extractor(
            self.extractor_name, mode=self.mode, weights=self.args.get("weights"), device=ctx.device,
            arg_hint=f"{self.key}.weights=PATH", model=self.args.get("model"),
            pretrained=self.args.get("pretrained", "openai"), no_face=self.args.get("no_face"),
            upsample=self.args.get("upsample", 1),
        )

    def _batch_size(self, ctx: MetricContext) -> int:
        return int(self.args.get("batch_size") or max(int(ctx.batch_size or 1), 1))

    def _reference(self, ext, ref_paths: list[Path], ctx: MetricContext) -> _RefStats:
        root = Path(ctx.cache_dir) if ctx.cache_dir else cache_root()
        folder = root / "fid_stats"
        folder.mkdir(parents=True, exist_ok=True)
        memo = KVCache(folder / "file_sha256.sqlite")
        set_hash, ref_paths = canonical_image_set(ref_paths, memo)
        key = content_key("fid_ref", STATS_VERSION, set_hash, ext.fingerprint(), len(ref_paths))[:32]
        npz, meta_path = folder / f"{key}.npz", folder / f"{key}.json"
        if npz.is_file() and meta_path.is_file():
            try:
                with np.load(npz) as z:
                    stats = _RefStats(z["features"], z["mu"], z["sigma"], json.loads(meta_path.read_text()), True)
                return stats
            except Exception as e:  # a corrupt cache entry is recomputed, not trusted
                log.warning("ignoring unreadable reference stats %s: %s", npz, e)
        fs = ext.extract_paths(ref_paths, self._batch_size(ctx))
        feats = fs.features
        if feats.shape[0] >= 2:
            mu, sigma = mean_cov(feats)
        else:
            mu, sigma = np.zeros(ext.dim), np.zeros((ext.dim, ext.dim))
        info = {"reference_hash": set_hash, "n_images": fs.n_images, "n_features": int(feats.shape[0]),
                "image_sizes": fs.image_sizes, **fs.info}
        _save_npz(npz, features=feats, mu=mu, sigma=sigma)
        atomic_write_text(meta_path, json.dumps(info, sort_keys=True))
        return _RefStats(feats, mu, sigma, info, False)

    def _score(self, gen: np.ndarray, ref: _RefStats, ctx: MetricContext) -> tuple[float, tuple | None, dict]:
        raise NotImplementedError

    # per-image features of generated images, cached by (extractor fingerprint, file sha256): a
    # rerun or rank 0 under torchrun reads what ``prepare`` computed. Face extractors report
    # per-image details (faces found, fallbacks) and are not cached this way.
    def _feature_store(self, ext, ctx: MetricContext):
        if ext.name == "dlib":
            return None
        root = Path(ctx.cache_dir) if ctx.cache_dir else cache_root()
        folder = root / "fid_features" / sha256_text(json.dumps(ext.fingerprint(), sort_keys=True))[:16]
        return folder, KVCache(root / "fid_stats" / "file_sha256.sqlite")

    def _generated(self, ext, paths: list[Path], ctx: MetricContext):
        from facebench.metrics.features.base import FeatureSet

        store = self._feature_store(ext, ctx)
        if store is None:
            return ext.extract_paths(paths, self._batch_size(ctx))
        folder, memo = store
        files = [folder / f"{file_digest(p, memo)}.npy" for p in paths]
        todo = [i for i, f in enumerate(files) if not f.is_file()]
        if todo:
            fs = ext.extract_paths([paths[i] for i in todo], self._batch_size(ctx))
            bad = set(fs.missing)
            rows = iter(fs.features)
            for j, i in enumerate(todo):
                if j in bad:
                    continue  # unreadable: counted below, never cached
                buf = io.BytesIO()
                np.save(buf, np.asarray(next(rows), dtype=np.float32))
                atomic_write_bytes(files[i], buf.getvalue())
        feats, missing, sizes = [], [], {}
        from PIL import Image

        for i, (f, p) in enumerate(zip(files, paths)):
            try:
                with Image.open(p) as im:  # header only: the size, for the record
                    sizes[f"{im.width}x{im.height}"] = sizes.get(f"{im.width}x{im.height}", 0) + 1
            except OSError:
                missing.append(i)
                continue
            try:
                row = np.load(f)
            except (OSError, ValueError):  # a damaged cache entry is recomputed, never trusted
                one = ext.extract_paths([p], 1)
                if one.n == 0:
                    missing.append(i)
                    continue
                row = one.features[0]
            feats.append(row)
        arr = np.stack(feats) if feats else np.zeros((0, ext.dim), dtype=np.float32)
        info = {"n_unreadable": len(missing)} if missing else {}
        return FeatureSet(features=arr, n_images=len(paths), missing=missing, image_sizes=sizes, info=info)

    def prepare(self, preds: list[Prediction], ctx: MetricContext) -> None:
        from facebench.errors import MissingDependencyError
        from facebench.metrics.features import WeightsUnavailable

        paths = [Path(p) for pred in preds for p in pred.images]
        if not paths:
            return
        try:
            ext = self._build_extractor(ctx)
        except (WeightsUnavailable, MissingDependencyError):
            return  # compute() reports the skip with its fix
        if self._feature_store(ext, ctx) is not None:
            self._generated(ext, paths, ctx)

    # -- main -----------------------------------------------------------------------------------
    def compute(self, preds: list[Prediction], ctx: MetricContext) -> list[MetricValue]:
        from facebench.errors import MissingDependencyError
        from facebench.metrics.features import WeightsUnavailable

        gen_paths = [Path(p) for pred in preds for p in pred.images]
        ref_paths = [Path(s.image) for s in ctx.reference_samples if s.image is not None]
        if not gen_paths:
            return [self.skipped("no generated images to score; fix: run the predict phase for this task first")]
        if len(ref_paths) < 2:
            return [self.skipped(f"dataset '{ctx.dataset}' gave {len(ref_paths)} reference image(s) for this split; "
                                 "fix: use a split with real images (the reference set)")]
        try:
            ext = self._build_extractor(ctx)
        except (WeightsUnavailable, MissingDependencyError) as e:
            return [self.skipped(str(e))]
        ref = self._reference(ext, ref_paths, ctx)
        gen = self._generated(ext, gen_paths, ctx)
        if gen.n < 2 or ref.features.shape[0] < 2:
            return [self.skipped(f"{self.extractor_name} gave features for {gen.n} generated and "
                                 f"{ref.features.shape[0]} reference images (need ≥ 2 each); "
                                 "fix: use no_face=whole_image or more images")]
        value, ci, extra_score = self._score(gen.features, ref, ctx)
        dim = int(gen.features.shape[1])
        min_n = int(self.args.get("min_n") or dim)
        extra: dict[str, Any] = {
            "extractor": self.extractor_name,
            "mode": self.mode,
            "fingerprint": ext.fingerprint(),
            "weights_sha256": ext.weights_sha256,
            "weights_check": getattr(ext, "weights_check", None),  # vs the published sha256 (weights.py)
            "feature_dim": dim,
            "n_generated": gen.n_images,
            "n_generated_features": gen.n,
            "n_reference": ref.info.get("n_images"),
            "n_reference_features": int(ref.features.shape[0]),
            "image_size_generated": gen.image_sizes,
            "image_size_reference": ref.info.get("image_sizes"),
            "input_size": list(ext.input_size) if ext.input_size else None,
            "reference_hash": ref.info.get("reference_hash"),
            "reference_stats_cached": ref.cache_hit,
            **extra_score,
        }
        if gen.info:  # faces found / fallbacks / unreadable files
            extra["generated_extraction"] = gen.info
        ref_counts = {k: v for k, v in ref.info.items() if k.startswith("n_") and k not in ("n_images", "n_features")}
        if ref_counts:
            extra["reference_extraction"] = ref_counts
        smallest = min(gen.n, int(ref.features.shape[0]))
        if smallest < min_n:
            msg = (f"{self.key}: only {smallest} images in the smaller set (< {min_n}); {self.small_n_effect} — "
                   "compare only numbers computed with the same N")
            extra["warning"] = msg
            log.warning(msg)
        return [self.value(value=float(value), ci=ci, n=gen.n, n_failed=len(gen.missing), aggregate="set",
                           extra=extra)]


class FID(_DistributionMetric):
    """Fréchet distance (FID with Inception; FD-CLIP / FD-dlib with the other extractors)."""

    name = "fid"
    small_n_effect = "FID is biased upward at small N and unstable"

    def _score(self, gen: np.ndarray, ref: _RefStats, ctx: MetricContext) -> tuple[float, tuple | None, dict]:
        value = fid_from_features(gen, ref.features, stats2=(ref.mu, ref.sigma))
        dim = gen.shape[1]
        lowrank = min(gen.shape[0], ref.features.shape[0]) - 1 < dim
        extra: dict[str, Any] = {"formula": "float64, tr sqrt via symmetric eigenvalues (not scipy sqrtm)"
                                 + ("; low-rank identity through the smaller set (N ≤ d)" if lowrank else "")}
        groups = self.args.get("jackknife")
        groups = int(groups) if groups is not None else (20 if dim <= 1024 else 0)
        ci = None
        if groups > 0 and min(gen.shape[0], ref.features.shape[0]) >= 4:
            ci, se, bias, used = jackknife_fid(gen, ref.features, groups=groups, seed=ctx.seed)
            extra.update(ci_method=f"delete-a-group jackknife ({used} groups), value ± 1.96·se", se=se,
                         jackknife_bias=bias)
        else:
            extra["ci_method"] = (f"none: each jackknife replicate is a {dim}-d Fréchet distance (too slow at this "
                                  "dimension); pass jackknife=G to force")
        return value, ci, extra


class KID(_DistributionMetric):
    """Kernel Inception Distance (unbiased polynomial-kernel MMD², raw scale — not ×1000)."""

    name = "kid"
    small_n_effect = "KID is unbiased but has a large variance at small N (it can be negative)"

    def _score(self, gen: np.ndarray, ref: _RefStats, ctx: MetricContext) -> tuple[float, tuple | None, dict]:
        num_subsets = int(self.args.get("num_subsets", 100))
        subset_size = int(self.args.get("subset_size", 1000))
        res = kernel_distance(gen, ref.features, num_subsets=num_subsets, max_subset_size=subset_size, seed=ctx.seed)
        extra = {"kid_std": res.std, "subset_size": res.subset_size, "num_subsets": res.num_subsets,
                 "scale": "raw MMD² (multiply by 1000 for the common ×10³ tables)",
                 "ci_method": "none: kid_std is the spread over subsets (as clean-fid/torchmetrics report)"}
        return res.mean, None, extra
