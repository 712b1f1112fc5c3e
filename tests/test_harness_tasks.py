"""Task YAML loading: the built-in tasks, groups, dataset overrides and malformed files."""
from __future__ import annotations

import pytest

from facebench.errors import TaskConfigError
from facebench.taskconfig import TaskIndex, dataset_category, parse_task


def test_builtin_tasks_load_and_groups_expand():
    idx = TaskIndex()
    assert {"fid", "vqa", "clip", "desc", "conv"} <= set(idx.names())
    assert idx.expand(["all"]) == ["fid", "vqa", "clip", "desc", "conv"]
    assert idx.expand(["generation", "fid", "conv"]) == ["fid", "vqa", "clip", "conv"]
    for n in idx.names():
        t = idx.load(n)
        assert t.metrics and t.prompt


def test_generation_tasks_share_generation_settings():
    idx = TaskIndex()
    gens = [idx.load(n).resolved("mini") for n in ("fid", "vqa", "clip")]
    assert len({(g.prompt, str(g.gen_settings())) for g in gens}) == 1
    assert gens[0].gen_settings()["height"] == 128  # the mini override


def test_dataset_filter_and_override():
    conv = TaskIndex().load("conv")
    on_mini = {m.key for m in conv.resolved("mini").metrics}
    on_paper = {m.key for m in conv.resolved("unif2ace").metrics}
    assert "conv_embed" in on_mini and "conv_gpt" not in on_mini
    assert "conv_gpt" in on_paper and "conv_ds" in on_paper and "conv_embed" not in on_paper
    assert dataset_category("/some/folder") == "path"


@pytest.mark.parametrize("text, msg", [
    ("task: x\nkind: generation\nprompt: '{caption}'\nmetrics: [fid]\nbogus: 1\n", "unknown key"),
    ("task: x\nkind: sideways\nprompt: p\nmetrics: [fid]\n", "kind must be"),
    ("task: x\nkind: understanding\nprompt: p\nmetrics: [fid]\n", "mode"),
    ("task: x\nkind: generation\nprompt: ''\nmetrics: [fid]\n", "non-empty"),
    ("task: x\nkind: generation\nprompt: p\nmetrics: []\n", "non-empty list"),
    ("task: x\nkind: generation\nprompt: p\nmetrics: [{metric: fid, key: a}, {metric: kid, key: a}]\n", "duplicate"),
])
def test_bad_task_yaml_is_rejected(text, msg):
    import yaml

    with pytest.raises(TaskConfigError) as e:
        parse_task(yaml.safe_load(text), "x.yaml")
    assert msg in str(e.value)


def test_malformed_and_python_tag_yaml(tmp_path):
    (tmp_path / "broken.yaml").write_text("task: broken\nkind: [generation\n")
    with pytest.raises(TaskConfigError, match="malformed YAML"):
        TaskIndex([tmp_path]).load("broken")
    (tmp_path / "broken.yaml").unlink()
    (tmp_path / "evil.yaml").write_text("task: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(TaskConfigError, match="malformed YAML"):
        TaskIndex([tmp_path]).load("evil")


def test_task_fingerprint_changes_with_config():
    idx = TaskIndex()
    a = idx.load("vqa").resolved("mini")
    b = idx.load("vqa").resolved("unif2ace")
    assert a.fingerprint() != b.fingerprint()
    assert a.fingerprint() == idx.load("vqa").resolved("mini").fingerprint()
