"""Inception-v3 pool features (2048-d) for FID/KID, in the modes clean-fid defines.

- ``clean`` (default; clean-fid's recommended mode): each channel is resized to 299×299 with
  PIL bicubic *in float* (no re-quantisation to uint8), then fed to the TF-Inception network
  (NVIDIA's TorchScript export of the 2015-12-05 TensorFlow graph) after ``(x - 128) / 128``.
- ``legacy_tensorflow``: the same TorchScript file, resizing inside the network as the original
  TensorFlow FID code did (reproduces TF-FID numbers).
- ``legacy_pytorch``: pytorch-fid's port of the same network (``pt_inception-2015-12-05-6726825d.pth``),
  with pytorch-fid's preprocessing: torch bilinear resize to 299 (align_corners=False, no
  antialiasing) in float, then scaled to [-1, 1] (pytorch_fid/inception.py ``InceptionV3.forward``
  with ``resize_input=True, normalize_input=True``). It equals pytorch-fid and clean-fid's
  ``mode="legacy_pytorch"``. It is NOT torchmetrics' ``FrechetInceptionDistance`` nor torch-fidelity:
  they load the same weights (same 566 keys) but resize with antialiased bilinear (torchmetrics ≥ 1.8
  default) or a TF1-style bilinear (torch-fidelity; torchmetrics ``antialias=False``) and scale with
  (x − 128)/128; on small images the FIDs differ by a few percent (1.8% reported on real weights,
  4–4.5% on the random-weight test images) — tests/test_metrics_gen_inception_refs.py checks both
  statements (the torchmetrics one only where torch-fidelity is installed).

Weights (never bundled; see ``weights.py`` for the search order):
- clean / legacy_tensorflow: ``inception-2015-12-05.pt`` from
  https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt
  — metric arg ``weights=PATH`` or env ``FACEBENCH_INCEPTION_WEIGHTS``; also found in
  ``$FACEBENCH_CACHE_DIR/weights/`` when its sha256 is the published one. Never in ``/tmp``,
  where clean-fid downloads it: anyone can plant a file there (``weights.py``).
- legacy_pytorch: ``pt_inception-2015-12-05-6726825d.pth`` from
  https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth
  — ``weights=PATH`` or env ``FACEBENCH_INCEPTION_PT_WEIGHTS``; also found in torch hub's
  checkpoint folder where pytorch-fid/torchmetrics download it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from facebench.metrics.features.base import FeatureExtractor
from facebench.metrics.features.weights import (file_sha256, load_state_dict, load_torchscript, resolve_weights,
                                                weights_check)

TF_INCEPTION_URL = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt"
TF_INCEPTION_FILE = "inception-2015-12-05.pt"
PT_INCEPTION_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
)
PT_INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
MODES = ("clean", "legacy_tensorflow", "legacy_pytorch")
CLEANFID_DOWNLOAD_DIR = "/tmp"  # where clean-fid itself downloads the TorchScript file: never searched
SIZE = 299


def clean_resize(image, size: int = SIZE) -> np.ndarray:
    """clean-fid's ``clean`` resize: per channel, PIL bicubic on float32 data, clipped to
    [0, 255], never rounded back to uint8. Returns (size, size, 3) float32."""
    from PIL import Image

    x = np.asarray(image.convert("RGB"))
    out = np.empty((size, size, 3), dtype=np.float32)
    for c in range(3):
        ch = Image.fromarray(x[:, :, c].astype(np.float32))  # mode "F"
        out[:, :, c] = np.asarray(ch.resize((size, size), resample=Image.BICUBIC)).clip(0, 255)
    return out


def torch_bilinear_resize(image, size: int = SIZE) -> np.ndarray:
    """clean-fid's ``legacy_pytorch`` resize: torch bilinear, align_corners=False, float output."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.asarray(image.convert("RGB")).astype(np.float32).transpose(2, 0, 1))[None]
    y = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return y[0].numpy().transpose(1, 2, 0).clip(0, 255).astype(np.float32)


def build_pytorch_fid_inception():
    """The pytorch-fid FID-Inception architecture (torchvision Inception3 with 1008 classes and
    the FID-specific Mixed blocks), randomly initialised: weights are loaded by the caller.
    The block classes come from clean-fid's copy of pytorch-fid (no download happens here)."""
    import torchvision
    from cleanfid.inception_pytorch import FIDInceptionA, FIDInceptionC, FIDInceptionE_1, FIDInceptionE_2

    net = torchvision.models.inception_v3(weights=None, num_classes=1008, aux_logits=False, init_weights=False)
    net.Mixed_5b = FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = FIDInceptionE_1(1280)
    net.Mixed_7c = FIDInceptionE_2(2048)
    return net


def pool_features_module(net):
    """Inception3 → nn.Sequential up to the final average pool (pytorch-fid's blocks 0-3)."""
    import torch.nn as nn

    return nn.Sequential(
        net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3, nn.MaxPool2d(kernel_size=3, stride=2),
        net.Conv2d_3b_1x1, net.Conv2d_4a_3x3, nn.MaxPool2d(kernel_size=3, stride=2),
        net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a, net.Mixed_6b, net.Mixed_6c, net.Mixed_6d,
        net.Mixed_6e, net.Mixed_7a, net.Mixed_7b, net.Mixed_7c, nn.AdaptiveAvgPool2d(output_size=(1, 1)),
    )


def _torch_hub_checkpoints() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


class InceptionExtractor(FeatureExtractor):
    name = "inception"
    dim = 2048

    def __init__(self, mode: str = "clean", weights: str | os.PathLike | None = None, device: str = "cpu",
                 arg_hint: str = "fid.weights=PATH"):
        import torch

        if mode not in MODES:
            raise ValueError(f"unknown inception mode {mode!r}; choose one of {', '.join(MODES)}")
        self.mode = mode
        self.device = torch.device(device)
        if mode in ("clean", "legacy_tensorflow"):
            path = resolve_weights(
                what="TF-Inception (clean-fid)", filename=TF_INCEPTION_FILE, url=TF_INCEPTION_URL,
                explicit=weights, env_var="FACEBENCH_INCEPTION_WEIGHTS", arg_hint=arg_hint,
            )
            self._net = load_torchscript(path, self.device, "TF-Inception (clean-fid)",
                                         f"pass --metric_args {arg_hint} with {TF_INCEPTION_FILE} from {TF_INCEPTION_URL}")
            self._layers = self._net.layers
            self.input_size = (SIZE, SIZE) if mode == "clean" else None
        else:
            path = resolve_weights(
                what="pytorch-fid Inception", filename=PT_INCEPTION_FILE, url=PT_INCEPTION_URL,
                explicit=weights, env_var="FACEBENCH_INCEPTION_PT_WEIGHTS", extra_dirs=(_torch_hub_checkpoints(),),
                arg_hint=arg_hint,
            )
            net = build_pytorch_fid_inception()
            state = load_state_dict(path, "pytorch-fid Inception",
                                    f"pass --metric_args {arg_hint} with {PT_INCEPTION_FILE} from {PT_INCEPTION_URL}")
            try:
                net.load_state_dict(state, strict=True)
            except RuntimeError as e:
                from facebench.errors import WeightsUnavailable

                raise WeightsUnavailable(f"pytorch-fid Inception weights at {path} do not fit the network "
                                         f"({str(e).splitlines()[0][:160]})", f"pass --metric_args {arg_hint} "
                                         f"with {PT_INCEPTION_FILE}") from None
            self._layers = pool_features_module(net).to(self.device).eval()
            self.input_size = (SIZE, SIZE)
        self.weights_path = Path(path)
        self.weights_sha256 = file_sha256(path)
        self.weights_check = weights_check(path)  # sha256 vs the published one, and where it came from

    def preprocess(self, image) -> Any:
        if self.mode == "clean":
            return clean_resize(image)
        if self.mode == "legacy_pytorch":
            return torch_bilinear_resize(image)
        return np.asarray(image.convert("RGB")).astype(np.float32)  # legacy_tensorflow: net resizes

    def forward(self, batch: list[Any]) -> np.ndarray:
        import torch

        with torch.no_grad():
            if self.mode == "legacy_tensorflow":
                outs = []  # images may differ in size: one at a time keeps exact TF semantics
                for arr in batch:
                    x = torch.from_numpy(arr.transpose(2, 0, 1)[None].copy()).to(self.device)
                    outs.append(self._net(x, return_features=True).reshape(1, -1))
                return torch.cat(outs).cpu().numpy()
            x = torch.from_numpy(np.stack([a.transpose(2, 0, 1) for a in batch])).to(self.device)
            if self.mode == "clean":
                x = (x - 128.0) / 128.0
            else:  # legacy_pytorch: [0, 255] → [0, 1] → [-1, 1] as pytorch-fid does
                x = 2.0 * (x / 255.0) - 1.0
            return self._layers(x).reshape(x.shape[0], -1).cpu().numpy()
