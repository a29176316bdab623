"""The extract stage end to end against a real small LLM (SmolLM2-135M served in-process by
llama.cpp through xllamacpp; the session fixture of tests/llms). Quality is irrelevant: the stage
either writes schema-valid facts backed by the turns, or its job fails visibly, and the turns
stay stored and searchable either way. With the fixture's 512-token context the extraction
prompt does not fit: the real server refuses it (HTTP 400), which must fail the jobs visibly.
(With a 2048-token context on a busy 2-core machine the model generates about 2 tokens a
second under the schema's grammar: a successful answer takes minutes, too long here.)
Run: pytest -m llm tests/lifecycle"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.llms.test_real_llm import llama_url  # noqa: F401  (the session fixture)

from engramdb import Memory
from engramdb.llms.openai import OpenAIChat, OpenAIChatOptions
from engramdb.pipeline.worker import WorkerOptions

pytestmark = pytest.mark.llm

TURNS = [{"role": "user", "content": "Hi! I moved to Lisbon last month."},
         {"role": "assistant", "content": "Welcome to Lisbon! How is it going?"},
         {"role": "user", "content": "Great. I work as a nurse at Santa Maria hospital."},
         {"role": "user", "content": "My cat Pimenta loves the balcony."}]


def test_extraction_with_a_real_llm_writes_valid_facts_or_fails_visibly(
        llama_url: str, tmp_path: Path) -> None:  # noqa: F811
    llm = OpenAIChat(OpenAIChatOptions(base_url=llama_url, model="smollm2", timeout_s=50.0, max_attempts=1,
                                       max_tokens=96))
    t0 = time.perf_counter()
    with Memory(tmp_path / "m.db", embedder="hash:64", facts=True, llm=llm,
                worker=WorkerOptions(threads=0, max_attempts=1, backoff_s=0.05)) as memory:
        turns = memory.add(TURNS, user_id="u", session_id="s1")
        report = memory.flush(timeout=120)
        assert report.remaining == 0
        facts = memory.list(user_id="u", kinds=["fact"])
        extract = next(s for s in memory.status().stages if s.stage == "extract")
        ids = {t.id for t in turns}
        if extract.failed:
            assert extract.failed == len(TURNS) and report.failed >= len(TURNS)
            assert extract.last_error and "LLM" in extract.last_error and "chat endpoint" in extract.last_error
        else:
            assert all(f.metadata["extractor"] == "llm" and f.content and set(f.provenance) <= ids for f in facts)
        assert memory.count(user_id="u", session_id="s1") == len(TURNS)
        assert turns[0].id in [h.record.id for h in memory.search("Lisbon", user_id="u").hits]
    usage = llm.usage()
    print(f"real LLM: {usage.calls} calls, {usage.prompt_tokens}+{usage.completion_tokens} tokens, "
          f"{len(facts)} facts, extract failed: {extract.failed} ({extract.last_error}), "
          f"{time.perf_counter() - t0:.1f}s")
    assert usage.calls == 1  # one conversation, one call
