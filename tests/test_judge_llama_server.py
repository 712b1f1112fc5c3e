"""A real local judge: ``llama_cpp.server`` on 127.0.0.1 with Gemma 3 270M (GGUF from PyPI).

Skipped unless llama-cpp-python is importable — by this Python, or by the interpreter named in
``$FACEBENCH_LLAMA_CPP_PYTHON`` (it compiles llama.cpp for ~8 min, so it is not in the default venv).
"""
from __future__ import annotations

import pytest

from facebench.judge.llama_server import llama_cpp_usable_reason

_REASON = llama_cpp_usable_reason()
pytestmark = pytest.mark.skipif(
    _REASON is not None,
    reason=f"llama_cpp not usable here: {_REASON}",
)


def test_llama_server_answers_chat_and_judges(tmp_path):
    from facebench.judge.client import JudgeClient
    from facebench.judge.llama_server import LlamaServer
    from facebench.metrics.aggregate import finalize
    from facebench.metrics.base import MetricContext
    from facebench.metrics.judge import JudgeScore
    from facebench.types import Prediction

    with LlamaServer(n_ctx=2048) as srv:
        assert srv.base_url.startswith("http://127.0.0.1:")
        c = JudgeClient(srv.base_url, None, concurrency=1, timeout=120)
        [res] = c.chat_many([{"model": srv.model_alias, "temperature": 0.0, "max_tokens": 16,
                              "messages": [{"role": "user", "content": "Say hello."}]}])
        assert res.ok, res.error
        assert res.content and res.content.strip()
        assert res.completion_tokens > 0 and res.prompt_tokens > 0
    assert srv._proc is None  # stopped

    preds = [Prediction(f"d{i}", f"d{i}", "desc", "Describe the face.", reference="A young woman with blond hair.",
                        output=o) for i, o in enumerate(["A blond young woman.", "An old man with a beard."])]
    ctx = MetricContext(task="desc", dataset="mini", run_dir=tmp_path / "run", cache_dir=tmp_path / "cache")
    vals = JudgeScore(key="desc_judge", judge="llama-cpp", template="desc", reply_max_tokens=48).compute(preds, ctx)
    main = finalize(vals[0], preds)
    assert main.variant == "llama-cpp:gemma-3-270m-q4_k_m"
    assert main.skipped is None or "no item could be scored" in main.skipped  # a 270M base model may never follow the format
    assert set(main.per_item) == {"d0", "d1"}
    assert all(d["review"] is not None or d["error"] for d in main.details.values())
    assert main.extra["judge"]["server"]["server"] == "llama_cpp.server"
    assert main.extra["cost"]["usd"] == 0.0
