"""Video input: frame policies, streamed decoding checked against frames of known content, the
policy in the request's cache key, task YAML validation, and planning a video task."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")

from facebench.errors import DatasetError, FacebenchError, TaskConfigError  # noqa: E402
from facebench.hashing import content_key  # noqa: E402
from facebench.types import QA, ChatRequest, Sample  # noqa: E402
from facebench.videoinput import VideoPolicy, VideoRef, decode_video, uniform_indices, write_video  # noqa: E402

N = 12  # frames of the test clip; frame i is grey level 20·i (so a decoded frame tells its index)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    from PIL import Image

    frames = [Image.fromarray(np.full((32, 48, 3), 20 * i, np.uint8)) for i in range(N)]
    return write_video(tmp_path_factory.mktemp("clip") / "grey.mp4", frames, fps=8)


def _index_of(frame) -> int:
    return int(round(float(np.asarray(frame).mean()) / 20))


def test_uniform_policy_takes_segment_centres(clip):
    assert uniform_indices(12, 4) == [1, 4, 7, 10]  # centres of 0-2, 3-5, 6-8, 9-11
    assert uniform_indices(3, 5) == [0, 0, 1, 2, 2]  # a short clip repeats frames
    c = decode_video(clip, VideoPolicy(frames=4))
    assert c.indices == [1, 4, 7, 10] and c.n_source_frames == N and c.fps == 8.0
    assert [_index_of(f) for f in c.frames] == [1, 4, 7, 10]  # the pixels are those frames
    assert c.timestamps == pytest.approx([1 / 8, 4 / 8, 7 / 8, 10 / 8])
    assert c.as_array().shape == (4, 32, 48, 3)


def test_fps_policy_and_cap(clip):
    c = decode_video(clip, VideoPolicy(frames=None, fps=2.0))
    assert c.indices == [0, 4, 8] and [_index_of(f) for f in c.frames] == [0, 4, 8]  # one frame per 0.5 s at 8 fps
    # 3 fps from 8 fps: sample times 0, 1/3, 2/3, 1, 4/3 s → the first frames at or after them (t = i/8)
    assert decode_video(clip, VideoPolicy(frames=None, fps=3.0)).indices == [0, 3, 6, 8, 11]
    c = decode_video(clip, VideoPolicy(frames=None, fps=8.0, max_frames=5))
    assert c.indices == [0, 1, 2, 3, 4]  # stops at the cap: no more frames are kept


def test_bad_policies_and_files_are_one_line_errors(tmp_path, clip):
    with pytest.raises(FacebenchError, match="exactly one of"):
        VideoPolicy(frames=4, fps=2.0)
    with pytest.raises(FacebenchError, match="frames must be"):
        VideoPolicy(frames=0)
    with pytest.raises(FacebenchError, match="unknown key"):
        VideoPolicy.from_config({"frame": 4})
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(DatasetError, match="cannot open video"):
        decode_video(bad, VideoPolicy(frames=2))
    with pytest.raises(DatasetError, match="not found"):
        decode_video(tmp_path / "missing.mp4", VideoPolicy(frames=2))


def _req(clip: Path, policy: VideoPolicy) -> ChatRequest:
    return ChatRequest("d0", None, ({"role": "user", "content": "Does the person blink?"},), {},
                       video=VideoRef(clip, "ab" * 32, policy))


def test_policy_is_in_the_cache_key_and_image_keys_are_unchanged(clip):
    def key(r: ChatRequest) -> str:
        return content_key("prediction", "model-fp", "chat", r.to_dict())

    k8 = key(_req(clip, VideoPolicy(frames=8)))
    assert k8 == key(_req(clip, VideoPolicy(frames=8)))
    assert k8 != key(_req(clip, VideoPolicy(frames=16)))  # N frames changes the key
    assert k8 != key(_req(clip, VideoPolicy(frames=None, fps=2.0)))
    moved = ChatRequest("d0", None, ({"role": "user", "content": "Does the person blink?"},), {},
                        video=VideoRef(Path("/other/place.mp4"), "ab" * 32, VideoPolicy(frames=8)))
    assert key(moved) == k8  # a moved file keeps its cached answers: identity is sha256 + policy
    img = ChatRequest("d0", Path("x.png"), ({"role": "user", "content": "q"},), {}, image_sha256="cd")
    assert "video" not in img.to_dict()  # image requests keep their old keys


def test_task_yaml_video_key_is_validated(tmp_path):
    from facebench.taskconfig import parse_task

    base = {"task": "t", "kind": "understanding", "mode": "vqa", "prompt": "{question}", "metrics": ["exact_match"]}
    t = parse_task({**base, "video": {"frames": 4, "qa_family": "dfer"}}, "t.yaml")
    assert t.to_dict()["video"] == {"frames": 4, "qa_family": "dfer"}
    assert "video" not in parse_task(base, "t.yaml").to_dict()  # image tasks keep their fingerprints
    with pytest.raises(TaskConfigError, match="exactly one of"):
        parse_task({**base, "video": {"frames": 4, "fps": 2}}, "t.yaml")
    with pytest.raises(TaskConfigError, match="understanding tasks only"):
        parse_task({**base, "kind": "generation", "video": {"frames": 4}}, "t.yaml")


def test_plan_video_task_policy_override_and_family_filter(clip):
    from facebench.runner.plan import assign_keys, plan_task
    from facebench.taskconfig import parse_task

    qa = [QA("Blink? Answer yes or no.", "yes", "closed", "blink", ("yes", "no")),
          QA("Which expression?", "happy", "closed", "dfer", ("happy", "sad"))]
    samples = [Sample("c1", None, "a clip", qa, {"blink": "yes"}, video=clip)]
    base = {"task": "t", "kind": "understanding", "mode": "vqa", "prompt": "{question}", "metrics": ["exact_match"]}
    task = parse_task({**base, "video": {"frames": 8}}, "t.yaml")
    items = plan_task(task, samples, seed=0)
    assert [it.item_id for it in items] == ["c1#q0", "c1#q1"]
    assert items[0].request.video.policy == VideoPolicy(frames=8) and items[0].request.image is None
    assert items[0].prediction.meta["video_policy"] == {"sampling": "uniform", "frames": 8}
    only = plan_task(parse_task({**base, "video": {"frames": 8, "qa_family": "dfer"}}, "t.yaml"), samples, seed=0)
    assert [it.item_id for it in only] == ["c1#q1"]
    # --gen_kwargs video_frames=4 becomes the policy (and leaves the request params)
    over = parse_task({**base, "video": {"frames": 8}, "generation": {"params": {"video_frames": 4}}}, "t.yaml")
    items4 = plan_task(over, samples, seed=0)
    assert items4[0].request.video.policy == VideoPolicy(frames=4) and "video_frames" not in items4[0].request.params
    assign_keys(items, "fp")
    assign_keys(items4, "fp")
    assert items[0].key != items4[0].key
    with pytest.raises(DatasetError, match="needs a video"):
        plan_task(task, [Sample("i1", None, "an image row", qa)], seed=0)
