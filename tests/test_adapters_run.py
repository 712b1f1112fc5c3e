"""End to end through the CLI: a tiny random Janus (a real unified model: generation + understanding)
runs `facebench run --model janus --task vqa,conv --dataset mini` on CPU to results."""
from __future__ import annotations

import json

import pytest

from tests.helpers import latest_results, run_file

pytest.importorskip("torch")
pytest.importorskip("transformers")


def test_janus_runs_vqa_and_conv_on_mini(tmp_path):
    from PIL import Image

    from helpers import cli_env, run_cli
    from tiny_models import build_tiny_janus

    model = build_tiny_janus(tmp_path / "janus")
    env = cli_env(extra_path=False)
    env["OMP_NUM_THREADS"] = "1"  # tiny tensors: one thread is faster (and far faster on a busy machine)
    proc = run_cli("run", "--model", "janus", "--model_args", f"pretrained={model}", "--task", "vqa,conv",
                   "--dataset", "mini", "--limit", "4", "--output_path", str(tmp_path / "runs"), env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = tmp_path / "runs" / "janus_mini"
    res = latest_results(run_dir)
    assert res["model"]["name"] == "janus" and res["model"]["capabilities"] == ["generate", "understand"]
    info = res["model"]["info"]
    assert info["backend"] == "janus" and info["weights"].startswith("local:") and info["guidance_scale"] == 5.0
    for task in ("vqa", "conv"):
        assert res["tasks"][task]["skipped"] is None
    assert res["tasks"]["conv"]["metrics"]["exact_match"]["n"] > 0  # answers were scored
    preds = [json.loads(line) for line in run_file(run_dir, "predictions", "conv").read_text().splitlines()]
    assert preds and all(p.get("output") for p in preds)
    pngs = sorted((run_dir / "images").rglob("*.png"))
    assert len(pngs) == 4
    with Image.open(pngs[0]) as im:
        assert im.size == (128, 128)  # the mini set's generation size, resized from Janus's native output
