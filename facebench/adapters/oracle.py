"""The ceiling: a model that knows the truth. Any real model must fall below it.

understand: the ground-truth answer to the question asked (the sample's QA pair whose question
the request contains), else the ground-truth caption (description requests);
generate: the prompt's exact attributes drawn by the mini renderer under another identity seed
than the dataset's own image (``sha256("oracle", request seed, k)``): a perfect generator that
is not a copy of the reference set.

The truth is found from the request alone, and only where it can be proven: a request's doc_id
must name a sample of ``dataset``/``split`` (default the mini test split), a chat request's image
sha256 must equal that sample's image file, and a generation prompt must state exactly the
sample's attributes (read back with the mini phrase parser). A video request's truth comes from
``video_dataset`` (default ``mini-video``, loaded on the first video request; or ``dataset`` itself
when that one has clips), and its clip's sha256 must equal the sample's clip. Anything else is an
error that says so: the oracle never guesses. The fingerprint covers the dataset's content hash and the
source of the renderer and of this file, so an edit to either never reuses cached outputs."""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from facebench.adapters.base import ModelAdapter
from facebench.errors import FacebenchError
from facebench.types import ChatRequest, GenRequest, Sample


def _identity_seed(seed: int, k: int) -> int:
    from facebench.hashing import canonical_json, sha256_text

    return int(sha256_text(canonical_json(["oracle", int(seed), int(k)]))[:8], 16)


class OracleAdapter(ModelAdapter):
    name: ClassVar[str] = "oracle"
    capabilities: ClassVar[frozenset[str]] = frozenset({"generate", "understand"})
    description: ClassVar[str] = ("ceiling baseline: ground-truth captions and answers; each prompt's exact "
                                  "attributes redrawn with another identity (mini set only)")

    def __init__(self, device: str = "cpu", dataset: str = "mini", split: str = "test",
                 video_dataset: str = "mini-video", **model_args: Any):
        super().__init__(device=device, dataset=dataset, split=split, video_dataset=video_dataset, **model_args)
        from facebench.data.base import resolve_dataset

        ds = resolve_dataset(dataset)
        self.dataset, self.split = str(dataset), str(split)
        self.data_fp = ds.fingerprint(split)
        self.samples: dict[str, Sample] = {s.doc_id: s for s in ds.load(split)}
        self._image_sha: dict[str, str] = {}
        self.capabilities = frozenset(type(self).capabilities | {"video"})
        has_clips = any(s.video is not None for s in self.samples.values())
        self.video_dataset = self.dataset if has_clips else str(video_dataset)
        self._video_samples: dict[str, Sample] | None = self.samples if has_clips else None
        self.video_fp = self.data_fp if has_clips else self._video_identity()
        self.calls = 0

    def _video_identity(self) -> str:
        """The built-in mini-video set by its version and generating code (no build needed);
        another video dataset by its fingerprint."""
        if self.video_dataset == "mini-video":
            from facebench.data.mini.video import generator_identity

            return generator_identity()
        from facebench.data.base import resolve_dataset

        return resolve_dataset(self.video_dataset).fingerprint(self.split)

    # -- identity -------------------------------------------------------------------------------
    def weights_revision(self) -> str:
        from facebench.data.mini import render
        from facebench.hashing import sha256_file

        code = sha256_file(Path(render.__file__))[:16] + sha256_file(Path(__file__))[:16]
        return f"truth:{self.dataset}/{self.split}:{self.data_fp};video:{self.video_dataset}:{self.video_fp};code:{code}"

    def info(self) -> dict[str, Any]:
        return {"truth": f"dataset '{self.dataset}' split '{self.split}'", "dataset_fingerprint": self.data_fp,
                "n_samples": len(self.samples), "generation": "mini renderer, identity seed sha256('oracle', seed, k)"}

    # -- finding the truth ----------------------------------------------------------------------
    def _video_sample(self, r: ChatRequest) -> Sample:
        from facebench.hashing import sha256_file

        if self._video_samples is None:
            from facebench.data.base import resolve_dataset

            self._video_samples = {s.doc_id: s for s in resolve_dataset(self.video_dataset).load(self.split)}
        s = self._video_samples.get(r.doc_id)
        if s is None or s.video is None:
            raise FacebenchError(f"oracle: clip '{r.doc_id}' is not in video dataset '{self.video_dataset}' split "
                                 f"'{self.split}', so its truth is unknown (for another set pass --model_args "
                                 "video_dataset=PATH,split=SPLIT)")
        if s.doc_id not in self._image_sha:
            self._image_sha[s.doc_id] = sha256_file(s.video)
        if r.video.sha256 != self._image_sha[s.doc_id]:
            raise FacebenchError(f"oracle: the clip of request '{r.doc_id}' is not that doc's clip in "
                                 f"'{self.video_dataset}' split '{self.split}'; the oracle answers only about clips "
                                 "whose truth it holds")
        return s

    def _sample(self, doc_id: str) -> Sample:
        s = self.samples.get(doc_id)
        if s is None:
            raise FacebenchError(f"oracle: doc '{doc_id}' is not in dataset '{self.dataset}' split '{self.split}', so its "
                                 "truth is unknown; the oracle only runs where it knows the truth (default --dataset "
                                 "mini; for another dataset pass --model_args dataset=PATH,split=SPLIT)")
        return s

    def _check_image(self, r: ChatRequest, s: Sample) -> None:
        from facebench.hashing import sha256_file

        if s.image is None:
            raise FacebenchError(f"oracle: doc '{r.doc_id}' has no image in dataset '{self.dataset}'")
        if s.doc_id not in self._image_sha:
            self._image_sha[s.doc_id] = sha256_file(s.image)
        sha = r.image_sha256 or (sha256_file(r.image) if r.image is not None else "")
        if sha != self._image_sha[s.doc_id]:
            raise FacebenchError(f"oracle: the image of request '{r.doc_id}' is not the image of that doc in dataset "
                                 f"'{self.dataset}' split '{self.split}'; the oracle answers only about images whose "
                                 "truth it holds")

    def _truth_attributes(self, r: GenRequest, s: Sample) -> dict[str, str]:
        from facebench.data.mini import ATTRIBUTE_FAMILIES, attributes_in_text

        if not s.attributes or not set(s.attributes) <= set(ATTRIBUTE_FAMILIES):
            raise FacebenchError(f"oracle: doc '{r.doc_id}' carries no mini-set attributes, so the oracle cannot draw "
                                 "it; generation works on --dataset mini only")
        if attributes_in_text(r.prompt) != s.attributes:
            raise FacebenchError(f"oracle: the prompt of '{r.doc_id}' does not state that doc's attributes; the oracle "
                                 "draws only prompts that describe their sample (a prompt template that keeps "
                                 "{caption})")
        return dict(s.attributes)

    # -- capabilities ---------------------------------------------------------------------------
    def generate_images(self, reqs: list[GenRequest]) -> list[list[Any]]:
        from PIL import Image

        from facebench.data.mini import render_face

        self.calls += 1
        out = []
        for r in reqs:
            attrs = self._truth_attributes(r, self._sample(r.doc_id))
            imgs = []
            for k, seed in enumerate(r.seeds()):
                img = render_face(attrs, size=max(r.width, r.height), seed=_identity_seed(seed, k))
                if img.size != (r.width, r.height):
                    img = img.resize((r.width, r.height), Image.BICUBIC)
                imgs.append(img)
            out.append(imgs)
        return out

    def answer(self, reqs: list[ChatRequest]) -> list[str]:
        self.calls += 1
        out = []
        for r in reqs:
            if r.video is not None:
                s = self._video_sample(r)
            else:
                s = self._sample(r.doc_id)
                self._check_image(r, s)
            asked = " ".join(r.question.split()).lower()
            # the sample's question that the request contains (the longest, if one contains another)
            hits = [qa for qa in s.qa if qa.question and " ".join(qa.question.split()).lower() in asked]
            if hits:
                out.append(max(hits, key=lambda qa: len(qa.question)).answer)
            else:
                out.append(s.caption)
        return out
