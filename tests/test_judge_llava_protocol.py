"""LLaVA-Bench's review protocol as a judge template: loaded from files (a local copy, a download
from a mirror — a real HTTP server on 127.0.0.1 here — or the cache), sha256-checked, parsed
without executing anything, sent with the file's settings, aggregated the LLaVA way as a
separately named number. LLaVA's own files are never in this repository: the tests write fake
files of the same shape (their own wording and values) and pin their digests for the test."""
from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("openai")

from facebench.judge import llava_protocol as lp  # noqa: E402
from facebench.metrics.base import MetricContext  # noqa: E402
from facebench.metrics.judge import JudgeScore  # noqa: E402
from facebench.types import Prediction  # noqa: E402
from openai_stub_server import StubOpenAIServer, StubResponse, chat_completion, error_body  # noqa: E402

FAKE_RULES = {
    cat: {"role": "Helper", "prompt": f"TEST RULE for {cat}: score both helpers from 1 to 10, the two numbers first."}
    for cat in ("llava_bench_conv", "llava_bench_detail", "llava_bench_complex", "detail")
}
# A script with the shape of LLaVA's eval_gpt_review_bench.py (a chat call with a system message and a
# temperature, a --max-tokens option, an f-string layout assigned to ``content``), in its own words and
# with its own values, so the test shows every setting is read from the file.
FAKE_SCRIPT = '''import argparse
import openai


def get_eval(content: str, max_tokens: int):
    response = openai.ChatCompletion.create(
        model="some-judge",
        messages=[{"role": "system", "content": "TEST SYSTEM: you grade answers."},
                  {"role": "user", "content": content}],
        temperature=0.35,
        max_tokens=max_tokens,
    )
    return response["choices"][0]["message"]["content"]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-tokens", type=int, default=777, help="reply length")
    args = parser.parse_args()
    for cap_str, ques, ans1, ans2, role, prompt in []:
        content = (f"<ctx>{cap_str}</ctx>\\n"
                   f"<q>{ques['text']}</q>\\n"
                   f"<{role} 1>{ans1['text']}</{role} 1>\\n"
                   f"<{role} 2>{ans2['text']}</{role} 2>\\n"
                   f"<rule>{prompt}</rule>")
'''
MODEL = "gpt-4o-2024-08-06"


def _write_fakes(folder: Path, nested: bool = False) -> dict[str, Path]:
    out = {}
    for name, text in (("rule.json", json.dumps(FAKE_RULES, indent=1)), ("eval_gpt_review_bench.py", FAKE_SCRIPT)):
        p = folder / (lp.FILES[name][0] if nested else name)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        out[name] = p
    return out


@pytest.fixture
def fakes(tmp_path, monkeypatch):
    """Fake files in a folder, their digests pinned in place of LLaVA's for this test, an empty cache."""
    files = _write_fakes(tmp_path / "copy")
    pinned = {name: (path, hashlib.sha256(files[name].read_bytes()).hexdigest()) for name, (path, _) in lp.FILES.items()}
    monkeypatch.setattr(lp, "FILES", pinned)
    monkeypatch.setenv("FACEBENCH_CACHE_DIR", str(tmp_path / "fbcache"))
    monkeypatch.delenv(lp.ENV_DIR, raising=False)
    return {"dir": tmp_path / "copy", "files": files, "tmp": tmp_path}


def test_pinned_source_is_a_commit_and_sha256_digests():
    assert re.fullmatch(r"[0-9a-f]{40}", lp.COMMIT) and lp.REPO == "haotian-liu/LLaVA"
    assert set(lp.FILES) == {"rule.json", "eval_gpt_review_bench.py"}
    for path, digest in lp.FILES.values():
        assert path.startswith("llava/eval/") and re.fullmatch(r"[0-9a-f]{64}", digest)
    assert lp.urls()["rule.json"] == f"https://raw.githubusercontent.com/haotian-liu/LLaVA/{lp.COMMIT}/llava/eval/table/rule.json"


@pytest.mark.parametrize("nested", [False, True])
def test_local_copy_is_read_and_settings_come_from_the_files(fakes, nested):
    folder = fakes["tmp"] / ("checkout" if nested else "flat")
    _write_fakes(folder, nested=nested)  # a LLaVA checkout layout or a flat folder
    proto = lp.load(folder)
    assert proto.system == "TEST SYSTEM: you grade answers." and proto.temperature == 0.35 and proto.max_tokens == 777
    assert proto.layout == ("<ctx>{context}</ctx>\n<q>{question}</q>\n<{role} 1>{reference}</{role} 1>\n"
                            "<{role} 2>{answer}</{role} 2>\n<rule>{rule}</rule>")
    assert proto.rules["llava_bench_detail"]["role"] == "Helper"
    src = proto.source
    assert src["commit"] == lp.COMMIT and src["files"]["rule.json"]["sha256"] == lp.FILES["rule.json"][1]
    from facebench.judge.prompts import resolve_template

    t = resolve_template("llava_bench", "desc", str(folder))
    assert t.name == "llava_bench_detail" and resolve_template("llava_bench", "conv", str(folder)).name == "llava_bench_conv"
    msgs = t.messages(context="C", question="Q?", reference="R", answer="A")
    assert msgs[0] == {"role": "system", "content": "TEST SYSTEM: you grade answers."}
    assert msgs[1]["content"] == ("<ctx>C</ctx>\n<q>Q?</q>\n<Helper 1>R</Helper 1>\n<Helper 2>A</Helper 2>\n"
                                  f"<rule>{FAKE_RULES['llava_bench_detail']['prompt']}</rule>")
    d = t.describe()
    assert d["wording"] == "LLaVA-Bench" and d["temperature"] == 0.35 and d["max_tokens"] == 777
    assert d["version"] == f"llava@{lp.COMMIT[:7]}" and d["source"]["repository"] == "haotian-liu/LLaVA"


def test_a_file_with_another_digest_is_refused(fakes, tmp_path):
    other = tmp_path / "other"
    files = _write_fakes(other)
    files["rule.json"].write_text(files["rule.json"].read_text().replace("TEST RULE", "EDITED RULE"))
    with pytest.raises(lp.ProtocolUnavailable) as e:
        lp.load(other, key="desc_gpt")
    msg = str(e.value)
    got = hashlib.sha256(files["rule.json"].read_bytes()).hexdigest()
    assert got in msg and lp.FILES["rule.json"][1] in msg and "fix:" in msg and "desc_gpt.llava_eval_dir" in msg


def test_offline_without_a_copy_is_skipped_with_the_urls_and_the_fix(fakes, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    ctx = MetricContext(task="desc", dataset="unif2ace", run_dir=tmp_path / "run", cache_dir=tmp_path / "cache")
    preds = [Prediction(item_id="d0", doc_id="d0", task="desc", prompt="Describe.", reference="R", output="A")]
    mv = JudgeScore(key="desc_gpt", judge="openai", model=MODEL, template="llava_bench").compute(preds, ctx)[0]
    assert mv.value is None and "offline" in mv.skipped
    for url in lp.urls().values():
        assert url in mv.skipped
    assert lp.ENV_DIR in mv.skipped and "--metric_args desc_gpt.llava_eval_dir=DIR" in mv.skipped


class _FileServer:
    """Serves ``files`` (URL path → bytes) on 127.0.0.1; records the paths asked for."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.requests = files, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.requests.append(self.path)
                body = outer.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _online(monkeypatch):
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "FACEBENCH_OFFLINE"):
        monkeypatch.delenv(var, raising=False)


def test_download_checks_the_digest_then_caches(fakes, monkeypatch):
    _online(monkeypatch)
    served = {f"/{lp.REPO}/{lp.COMMIT}/{path}": fakes["files"][name].read_bytes() for name, (path, _) in lp.FILES.items()}
    with _FileServer(served) as srv:
        monkeypatch.setenv(lp.ENV_BASE_URL, srv.url)
        proto = lp.load()
        assert sorted(srv.requests) == sorted(served)
    assert proto.temperature == 0.35 and proto.source["files"]["rule.json"]["from"].startswith(srv.url)
    cached = sorted(p.name for p in lp.cache_dir().iterdir())
    assert cached == ["eval_gpt_review_bench.py", "rule.json"]
    # the server is gone: the cache answers, and says where the file came from
    again = lp.load()
    assert again.rules == proto.rules and again.source["files"]["rule.json"]["from"].startswith("cache")


def test_a_download_with_another_digest_never_lands_in_the_cache(fakes, monkeypatch):
    _online(monkeypatch)
    served = {f"/{lp.REPO}/{lp.COMMIT}/{path}": fakes["files"][name].read_bytes() for name, (path, _) in lp.FILES.items()}
    served[f"/{lp.REPO}/{lp.COMMIT}/{lp.FILES['rule.json'][0]}"] = b'{"tampered": true}'
    with _FileServer(served) as srv:
        monkeypatch.setenv(lp.ENV_BASE_URL, srv.url)
        with pytest.raises(lp.ProtocolUnavailable, match="not the pinned"):
            lp.load()
    assert not (lp.cache_dir() / "rule.json").exists()
    assert not [p for p in lp.cache_dir().iterdir() if p.name.startswith(".")]  # no partial file left


@pytest.mark.parametrize("review,expected", [
    ("8 6\nbecause", (8.0, 6.0)), ("8,6", (8.0, 6.0)), ("8.5 7", (8.5, 7.0)),
    ("8, 6", (-1.0, -1.0)),  # the comma becomes a space: "8  6" splits into three fields
    ("Assistant 1: 8, Assistant 2: 6", (-1.0, -1.0)),  # facebench reads it; LLaVA's rule does not
    ("8  6", (-1.0, -1.0)),  # two spaces: three fields after split(' ')
    ("**8 6**", (-1.0, -1.0)), ("", (-1.0, -1.0)), (None, (-1.0, -1.0)), ("-1 -1", (-1.0, -1.0)),
    ("12 3", (12.0, 3.0)),  # out of scale, yet read: LLaVA checks nothing else
])
def test_llava_parse_follows_llavas_rule(review, expected):
    assert lp.llava_parse(review) == expected


# ------------------------------------------------------------------------------------- end to end
_ANS = re.compile(r"<Helper 2>(.*?)</Helper 2>", re.S)


def _reviewer(path, body, n):
    answer = _ANS.search(body["messages"][-1]["content"]).group(1)
    if answer == "broken":
        return StubResponse(status=500, body=error_body("down"))
    replies = {"good": "9 8\nFine.", "fair": "9,5\nSome attributes are wrong.", "labelled":
               "Assistant 1: 9\nAssistant 2: 4\nThe second one misses the hair.", "garbled": "Both are fine I think."}
    return chat_completion(replies[answer], model=MODEL)


def test_llava_template_end_to_end_settings_records_and_llava_aggregation(fakes, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    answers = ["good", "fair", "labelled", "garbled", "broken", ""]
    preds = [Prediction(item_id=f"d{i}", doc_id=f"d{i}", task="desc", prompt="Describe the face.",
                        reference="A woman with blond hair.", output=a) for i, a in enumerate(answers)]
    ctx = MetricContext(task="desc", dataset="unif2ace", run_dir=tmp_path / "run", cache_dir=tmp_path / "cache")
    with StubOpenAIServer(_reviewer) as srv:
        vals = {v.name: v for v in JudgeScore(
            key="desc_gpt", judge="openai", model=MODEL, base_url=srv.base_url, template="llava_bench",
            llava_eval_dir=str(fakes["dir"]), max_retries=0).compute(preds, ctx)}
        bodies = [b for _, b, _ in srv.requests]
    assert len(bodies) == 5 and all(b["temperature"] == 0.35 and b["max_tokens"] == 777 for b in bodies)
    assert {b["messages"][0]["content"] for b in bodies} == {"TEST SYSTEM: you grade answers."}
    main = vals["desc_gpt"]
    # facebench's own aggregation: failed reviews are missing, the empty answer scores 1 without a call
    assert main.per_item == {"d0": 8.0, "d1": 5.0, "d2": 4.0, "d3": None, "d4": None, "d5": 1.0}
    label = main.details["d0"]["template"]
    assert re.fullmatch(rf"llava_bench_detail@llava@{lp.COMMIT[:7]}#[0-9a-f]{{16}}", label)
    assert all(d["template"] == label for d in main.details.values())
    assert main.variant == f"openai:{MODEL}|llava_bench_detail@llava@{lp.COMMIT[:7]}"
    assert main.extra["prompt"]["source"]["commit"] == lp.COMMIT
    assert main.extra["judge"]["temperature"] == 0.35 and main.extra["judge"]["reply_max_tokens"] == 777
    # LLaVA's aggregation over the 4 returned reviews: "labelled" and "garbled" are (-1, -1) by its rule
    llava = vals["desc_gpt_llava_relative"]
    ref_mean, ans_mean = (9 + 9 - 1 - 1) / 4, (8 + 5 - 1 - 1) / 4
    assert llava.value == pytest.approx(100 * ans_mean / ref_mean) and llava.n == 4
    assert llava.extra["n_as_minus_one"] == 2 and llava.extra["n_excluded_no_review"] == 1
    assert llava.extra["n_excluded_empty_answer"] == 1 and llava.aggregate == "set"
    # and it is not facebench's relative score (which never counts a failed review)
    assert vals["desc_gpt_relative"].value == pytest.approx(100 * (8 + 5 + 4) / (9 + 9 + 9))
    assert vals["desc_gpt_relative"].value != pytest.approx(llava.value)


def test_default_template_keeps_facebench_settings_and_records_itself(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    preds = [Prediction(item_id="d0", doc_id="d0", task="desc", prompt="Describe.", reference="R", output="A")]
    ctx = MetricContext(task="desc", dataset="unif2ace", run_dir=tmp_path / "run", cache_dir=tmp_path / "cache")
    with StubOpenAIServer(lambda p, b, n: chat_completion("9 7\nok", model=MODEL)) as srv:
        vals = {v.name: v for v in JudgeScore(key="desc_gpt", judge="openai", model=MODEL, base_url=srv.base_url,
                                              template="desc").compute(preds, ctx)}
        body = srv.requests[0][1]
    assert body["temperature"] == 0.0 and body["max_tokens"] == 512
    main = vals["desc_gpt"]
    assert main.variant == f"openai:{MODEL}" and "desc_gpt_llava_relative" not in vals
    assert main.details["d0"]["template"].startswith("desc@1#") and main.extra["prompt"]["wording"] == "facebench"
    # LLaVA's aggregation on request, also for facebench's paired template
    with StubOpenAIServer(lambda p, b, n: chat_completion("9 7\nok", model=MODEL)) as srv:
        vals = {v.name: v for v in JudgeScore(key="desc_gpt", judge="openai", model=MODEL, base_url=srv.base_url,
                                              template="desc", llava_aggregate=True).compute(preds, ctx)}
    assert vals["desc_gpt_llava_relative"].value == pytest.approx(100 * 7 / 9)


@pytest.mark.skipif(not __import__("os").environ.get(lp.ENV_DIR), reason=f"${lp.ENV_DIR} not set (a local copy of "
                    "LLaVA's files at the pinned commit; CI has none)")
def test_the_real_files_match_the_pins_and_parse():
    proto = lp.load()
    assert proto.temperature == 0.2 and proto.max_tokens == 1024
    assert {"llava_bench_conv", "llava_bench_detail"} <= set(proto.rules)
    assert "{context}" in proto.layout and "{answer}" in proto.layout and "{rule}" in proto.layout
