"""Exact-match QA accuracy and macro attribute accuracy against a hand count on 24 hand-labelled
questions (empty and whitespace-only answers among them), and through a real run: a model that
answers "" to everything scores 0.0 on every closed question — it is not skipped."""
from __future__ import annotations

import json
from fractions import Fraction

import pytest

from facebench.metrics.aggregate import finalize
from facebench.metrics.base import MetricContext
from facebench.metrics.qa import AttributeAccuracy, ExactMatch, closed_answer, is_correct
from facebench.types import QA, Prediction
from tests.helpers import run_file

YN = ("yes", "no")
HAIR = ("blond", "black", "brown", "dark brown")

# (family, reference answer, choices, model output, correct by hand)
HAND = [
    ("smiling", "yes", YN, "yes", 1),
    ("smiling", "yes", YN, "Yes, she is smiling.", 1),
    ("smiling", "no", YN, "", 0),                        # empty: an answer, and a wrong one
    ("smiling", "no", YN, "No.", 1),
    ("smiling", "yes", YN, "Yes and no", 0),             # names both choices: no credit
    ("smiling", "no", YN, "  ", 0),                      # whitespace only
    ("eyewear", "yes", YN, "No, there are no glasses.", 0),
    ("eyewear", "no", YN, "There are no glasses.", 1),   # mentions one choice only
    ("eyewear", "no", YN, "no", 1),
    ("eyewear", "yes", YN, "", 0),
    ("eyewear", "yes", YN, "YES", 1),
    ("eyewear", "no", YN, "no", 1),
    ("hair_color", "blond", HAIR, "blond", 1),
    ("hair_color", "black", HAIR, "Black hair.", 1),
    ("hair_color", "brown", HAIR, "dark brown", 0),      # the longer choice wins
    ("hair_color", "dark brown", HAIR, "Her hair is dark brown.", 1),
    ("hair_color", "black", HAIR, "black or brown", 0),  # several choices
    ("hair_color", "brown", HAIR, "", 0),
    ("hair_color", "blond", HAIR, "blonde", 0),          # whole words only
    ("hair_color", "brown", HAIR, "Brown.", 1),
    ("beard", "no", YN, "no", 1),
    ("beard", "yes", YN, "yes", 1),
    ("beard", "no", YN, "  ", 0),
    ("beard", "yes", YN, "Yes, a short beard.", 1),
]


def _preds(outputs: list[str] | None = None) -> list[Prediction]:
    out = []
    for i, (fam, ans, choices, output, _) in enumerate(HAND):
        qa = QA(f"question {i} about {fam}?", ans, kind="closed", family=fam, choices=choices)
        out.append(Prediction(item_id=f"q{i}", doc_id=f"d{i // 4}", task="conv", prompt=qa.question,
                              output=output if outputs is None else outputs[i], reference=ans, qa=qa))
    open_qa = QA("Describe the eyes.", "blue eyes", kind="open")
    out.append(Prediction(item_id="open", doc_id="d0", task="conv", prompt=open_qa.question, output="",
                          reference="blue eyes", qa=open_qa))  # open questions are not exact-scored
    return out


def _ctx(tmp_path) -> MetricContext:
    return MetricContext(task="conv", dataset="test", run_dir=tmp_path, cache_dir=tmp_path / "cache")


def test_exact_match_equals_the_hand_count_with_empty_answers(tmp_path):
    preds = _preds()
    mv = finalize(ExactMatch(key="exact_match").compute(preds, _ctx(tmp_path))[0], preds)
    hand = [h[-1] for h in HAND]
    assert sum(hand) == 14
    assert mv.n == 24 and mv.n_failed == 0  # every closed question, empty answers included
    assert mv.value == pytest.approx(14 / 24, abs=1e-12)
    assert [mv.per_item[f"q{i}"] for i in range(24)] == [float(h) for h in hand]
    assert mv.extra["denominator"] == "all closed questions (empty answers count as wrong)"
    assert mv.extra["n_empty_answers"] == 5 and mv.extra["n_closed"] == 24 and mv.extra["n_open_skipped"] == 1


def test_attribute_accuracy_equals_the_hand_macro_average(tmp_path):
    preds = _preds()
    mv = AttributeAccuracy(key="attr_acc").compute(preds, _ctx(tmp_path))[0]
    by_fam: dict[str, list[int]] = {}
    for fam, _, _, _, ok in HAND:
        by_fam.setdefault(fam, []).append(ok)
    fams = {f: Fraction(sum(v), len(v)) for f, v in by_fam.items()}
    assert fams == {"smiling": Fraction(3, 6), "eyewear": Fraction(4, 6), "hair_color": Fraction(4, 8),
                    "beard": Fraction(3, 4)}
    macro = sum(fams.values()) / 4  # = 29/48
    assert mv.value == pytest.approx(float(macro), abs=1e-12) and mv.n == 24
    for f, acc in fams.items():
        assert mv.per_attribute[f]["all"] == pytest.approx(float(acc)) and mv.per_attribute[f]["n"] == len(by_fam[f])
    assert "empty answers count as wrong" in mv.extra["denominator"] and mv.extra["n_empty_answers"] == 5


@pytest.mark.parametrize("output,expected", [
    ("Yes and no", None), ("yes, and no", None), ("Yes.", "yes"), ("No, there is no beard", "no"),
    ("The answer is yes", "yes"), ("Maybe", None), ("", None), ("   ", None),
])
def test_yes_no_answers_naming_both_choices_get_no_credit(output, expected):
    for qa in (QA("q?", "yes", kind="closed", choices=YN), QA("q?", "yes", kind="closed")):  # with / without choices
        assert closed_answer(output, qa) == expected
    assert is_correct("Yes and no", QA("q?", "yes", kind="closed")) is False
    assert is_correct("Yes and no", QA("q?", "no", kind="closed", choices=YN)) is False


def test_all_empty_answers_score_zero_over_every_closed_question(tmp_path):
    preds = _preds(outputs=[""] * 12 + ["   "] * 12)
    mv = finalize(ExactMatch(key="exact_match").compute(preds, _ctx(tmp_path))[0], preds)
    assert mv.skipped is None and mv.value == 0.0 and mv.n == 24 and mv.n_failed == 0
    att = AttributeAccuracy(key="attr_acc").compute(preds, _ctx(tmp_path))[0]
    assert att.skipped is None and att.value == 0.0 and att.n == 24


def test_a_model_answering_empty_strings_scores_zero_in_a_real_run(tmp_path):
    """Through the runner: empty answers are kept, cached and scored — not dropped or 'skipped'."""
    from facebench.runner import RunConfig, run

    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "convexact.yaml").write_text(
        "task: convexact\nkind: understanding\nmode: vqa\ndescription: exact scores only (test)\n"
        "dataset: mini\nprompt: \"{question}\"\nmetrics:\n  - metric: exact_match\n    key: exact_match\n"
        "  - metric: attr_accuracy\n    key: attr_acc\n")
    out = run(RunConfig(model="dummy", model_args={"answer": ""}, tasks=["convexact"], dataset="mini", limit=5,
                        output_path=tmp_path / "out", include_path=[str(tasks)]))
    res = out.results["tasks"]["convexact"]
    rows = [json.loads(line) for line in run_file(out.run_dir, "samples", "convexact").read_text().splitlines()]
    closed = [r for r in rows if r["qa"]["kind"] == "closed"]
    assert closed and all(r["output"] == "" for r in rows)
    em, attr = res["metrics"]["exact_match"], res["metrics"]["attr_acc"]
    assert em["skipped"] is None and em["value"] == 0.0 and em["n"] == len(closed) and em["n_failed"] == 0
    assert attr["value"] == 0.0 and attr["n"] == len([r for r in closed if r["qa"]["family"]])
    assert out.predict_stats["convexact"].failed == 0 and out.predict_stats["convexact"].empty == len(rows)
