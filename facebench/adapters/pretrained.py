"""Shared base for adapters that load weights from a hub id or a local folder: default
checkpoint handling, batch size, and a weights revision computed once (the hub commit or a hash
of the local weight files) so that new weights never hit old cache entries."""
from __future__ import annotations

from typing import Any, ClassVar

from facebench.adapters.base import ModelAdapter
from facebench.errors import FacebenchError


class PretrainedAdapter(ModelAdapter):
    #: defaults a subclass (baseline plugin) may change; user model_args always win
    default_args: ClassVar[dict[str, Any]] = {}
    #: True when there is no usable default checkpoint (e.g. weights that are not public)
    needs_pretrained: ClassVar[bool] = False
    default_batch_size: ClassVar[int] = 8
    #: files that mark a pipeline/model folder for the weights hash (diffusers: model_index.json)
    weights_index_files: ClassVar[tuple[str, ...] | None] = None
    speed_only_args: ClassVar[tuple[str, ...]] = ("batch_size", "device_map", "weights_hash")
    extra_model_args: ClassVar[tuple[str, ...]] = ("pretrained", "revision")

    def __init__(self, device: str = "cpu", **model_args: Any):
        args = {**self.default_args, **model_args}
        if args.get("pretrained") is None:
            if self.needs_pretrained or not self.default_checkpoint:
                hint = f" ({self.description})" if self.description else ""
                raise FacebenchError(f"model '{self.name}' needs --model_args pretrained=<hub id or local folder>{hint}")
            args["pretrained"] = self.default_checkpoint
        super().__init__(device=device, **args)
        self.pretrained = str(args["pretrained"])
        self.batch_size = int(args.get("batch_size", self.default_batch_size))
        if self.batch_size < 1:
            raise FacebenchError("batch_size must be >= 1")
        self._revision: str | None = None

    def weights_revision(self) -> str:
        if self._revision is None:
            from facebench.adapters.hf_vlm import weights_revision

            kw = {"index_files": self.weights_index_files} if self.weights_index_files else {}
            rev, resolved = weights_revision(self.pretrained, self.model_args.get("revision"),
                                             str(self.model_args.get("weights_hash", "full")), **kw)
            if not resolved:
                return rev
            self._revision = rev
        return self._revision
