"""Video input for understanding requests: the frame-sampling policy, the request's reference to a
clip and the decoded clip.

A request never carries decoded frames in its identity: it carries the clip's sha256 and the
sampling policy (N uniform frames, or a fixed fps with a frame cap), so the cache key changes
with either, and the frames are decoded only when an adapter asks for them (``VideoRef.load``).
Decoding uses PyAV (``pip install facebench[video]``) and streams: packets are demuxed one at a
time and only the sampled frames are kept, so memory holds at most ``max_frames`` frames of one
clip, never a whole video or a whole set.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from facebench.errors import DatasetError, FacebenchError, MissingDependencyError

DEFAULT_FRAMES = 8
MAX_FRAMES_CAP = 256  # a policy asking for more is refused: a request's frames must fit in memory
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v")


def require_av():
    try:
        import av
    except ImportError:
        raise MissingDependencyError("av", "video", "video decoding") from None
    return av


@dataclass(frozen=True)
class VideoPolicy:
    """How frames are taken from a clip: ``frames`` uniformly spaced frames (segment centres), or
    one frame every ``1/fps`` seconds up to ``max_frames``. Exactly one of the two is set."""

    frames: int | None = DEFAULT_FRAMES
    fps: float | None = None
    max_frames: int = 32

    def __post_init__(self) -> None:
        if (self.frames is None) == (self.fps is None):
            raise FacebenchError("video policy: give exactly one of frames=N (uniform) or fps=F (fixed rate)")
        if self.frames is not None and not (isinstance(self.frames, int) and 1 <= self.frames <= MAX_FRAMES_CAP):
            raise FacebenchError(f"video policy: frames must be a whole number in 1..{MAX_FRAMES_CAP}, got {self.frames!r}")
        if self.fps is not None and not (isinstance(self.fps, (int, float)) and 0 < float(self.fps) <= 1000):
            raise FacebenchError(f"video policy: fps must be a positive number, got {self.fps!r}")
        if not (isinstance(self.max_frames, int) and 1 <= self.max_frames <= MAX_FRAMES_CAP):
            raise FacebenchError(f"video policy: max_frames must be a whole number in 1..{MAX_FRAMES_CAP}, "
                                 f"got {self.max_frames!r}")

    @classmethod
    def from_config(cls, raw: Any, where: str = "video") -> VideoPolicy:
        """From a task YAML's ``video:`` mapping (``{frames: 8}`` or ``{fps: 2, max_frames: 16}``)."""
        if not isinstance(raw, dict):
            raise FacebenchError(f"{where}: must be a mapping like {{frames: 8}} or {{fps: 2, max_frames: 16}}")
        bad = set(raw) - {"frames", "fps", "max_frames"}
        if bad:
            raise FacebenchError(f"{where}: unknown key(s) {sorted(bad)}; allowed: frames, fps, max_frames")
        fps = raw.get("fps")
        frames = raw.get("frames", None if fps is not None else DEFAULT_FRAMES)
        return cls(frames=frames, fps=float(fps) if fps is not None else None,
                   max_frames=raw.get("max_frames", 32))

    def to_dict(self) -> dict[str, Any]:
        if self.frames is not None:
            return {"sampling": "uniform", "frames": self.frames}
        return {"sampling": "fps", "fps": float(self.fps), "max_frames": self.max_frames}

    def describe(self) -> str:
        return f"{self.frames} uniform frames" if self.frames is not None else \
            f"{self.fps:g} fps (at most {self.max_frames} frames)"


@dataclass
class VideoClip:
    """Decoded frames of one clip (RGB PIL images) with where they came from."""

    frames: list[Any]
    fps: float  # the source's frame rate
    timestamps: list[float]  # seconds, one per frame
    indices: list[int]  # source frame numbers
    source: Path
    n_source_frames: int  # the clip's frames (uniform policy); frames read until the last kept one (fps policy)

    def as_array(self):
        """(T, H, W, 3) uint8, as transformers' video processors take it."""
        import numpy as np

        return np.stack([np.asarray(f.convert("RGB")) for f in self.frames])


@dataclass(frozen=True)
class VideoRef:
    """A request's video: the file, its content hash and the sampling policy (the last two are
    the identity; the path is not, so a moved file keeps its cached answers)."""

    path: Path
    sha256: str
    policy: VideoPolicy = field(default_factory=VideoPolicy)

    def to_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "policy": self.policy.to_dict()}

    def load(self) -> VideoClip:
        return decode_video(self.path, self.policy)


# ------------------------------------------------------------------------------------------ decoding
def _open(path: Path):
    av = require_av()
    if not Path(path).is_file():
        raise DatasetError(f"video not found: {path}")
    try:
        container = av.open(str(path))
    except Exception as e:  # noqa: BLE001 - PyAV raises its own error tree for bad files
        raise DatasetError(f"cannot open video {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if not container.streams.video:
        container.close()
        raise DatasetError(f"video {path} has no video stream")
    return container


def count_frames(path: Path) -> tuple[int, float]:
    """(frames, fps) by demuxing packets without decoding them (container metadata is often wrong)."""
    container = _open(path)
    try:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
        n = sum(1 for pkt in container.demux(stream) if pkt.size)
    finally:
        container.close()
    return n, fps


def uniform_indices(n_source: int, n: int) -> list[int]:
    """Centres of ``n`` equal segments of ``n_source`` frames (repeats when the clip is shorter)."""
    return [min(n_source - 1, int((i + 0.5) * n_source / n)) for i in range(n)]


def _frames(container) -> Iterator[Any]:
    stream = container.streams.video[0]
    stream.thread_type = "SLICE"  # frame order and content do not depend on thread timing
    yield from container.decode(stream)


def decode_video(path: str | Path, policy: VideoPolicy) -> VideoClip:
    """The frames ``policy`` selects from ``path``, streamed (only the kept frames stay in memory)."""
    path = Path(path)
    if policy.frames is not None:
        n_source, fps = count_frames(path)
        if n_source == 0:
            raise DatasetError(f"video {path} has no frames")
        wanted = uniform_indices(n_source, policy.frames)
    else:
        n_source, fps, wanted = -1, 0.0, []
    keep: dict[int, Any] = {}
    times: dict[int, float] = {}
    container = _open(path)
    try:
        stream = container.streams.video[0]
        src_fps = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
        fps = fps or src_fps
        next_t, count = 0.0, 0
        want_set = set(wanted)
        for i, frame in enumerate(_frames(container)):
            count = i + 1
            t = float(frame.time) if frame.time is not None else i / fps
            if policy.frames is not None:
                if i in want_set:
                    keep[i], times[i] = frame.to_image(), t
                if i >= wanted[-1]:
                    break
            else:
                if t + 1e-9 >= next_t:
                    keep[i], times[i] = frame.to_image(), t
                    while next_t <= t + 1e-9:  # the next sample time after this frame (gaps are skipped)
                        next_t += 1.0 / float(policy.fps)
                    if len(keep) >= policy.max_frames:
                        break
    except (OSError, ValueError) as e:
        raise DatasetError(f"cannot decode video {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    finally:
        container.close()
    if policy.frames is not None:
        missing = [i for i in wanted if i not in keep]
        if missing:
            raise DatasetError(f"video {path}: only {count} of {n_source} frames decode (frame {missing[0]} missing)")
        frames = [keep[i] for i in wanted]
        indices, stamps = list(wanted), [times[i] for i in wanted]
    else:
        if not keep:
            raise DatasetError(f"video {path} has no frames")
        indices = sorted(keep)
        frames, stamps = [keep[i] for i in indices], [times[i] for i in indices]
        n_source = max(n_source, count)
    return VideoClip(frames=frames, fps=fps, timestamps=stamps, indices=indices, source=path,
                     n_source_frames=n_source)


# ------------------------------------------------------------------------------------------- writing
def write_video(path: str | Path, frames: list[Any], fps: int = 8, codec: str = "mpeg4") -> Path:
    """Write RGB frames as a video file (the mini-video set and tests). ``mpeg4`` at a fixed
    quantiser is FFmpeg's own encoder: single-threaded it writes the same bytes every time."""
    av = require_av()
    path = Path(path)
    if not frames:
        raise FacebenchError(f"write_video: no frames for {path}")
    w, h = frames[0].size
    container = av.open(str(path), mode="w", format="mp4" if path.suffix in (".mp4", ".m4v") else None)
    try:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = w, h
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1
        if codec == "mpeg4":  # a fixed, fine quantiser: no rate control, near-lossless frames
            stream.codec_context.qmin = stream.codec_context.qmax = 2
        for img in frames:
            vf = av.VideoFrame.from_image(img.convert("RGB"))
            for pkt in stream.encode(vf):
                container.mux(pkt)
        for pkt in stream.encode():
            container.mux(pkt)
    finally:
        container.close()
    return path


def is_video_file(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


__all__ = ["VideoClip", "VideoPolicy", "VideoRef", "count_frames", "decode_video", "is_video_file", "uniform_indices",
           "write_video"]
