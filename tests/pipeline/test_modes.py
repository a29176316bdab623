"""What a write is before and after the pipeline ran: keyword-searchable at once, found by
meaning once embedded; and ``background=False``, which embeds inside the write as before (on
both stores)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from tests.support.pipeline import expected_keys, queue, stored_keys
from tests.support.probe import Target, make_target

from engramdb import Memory
from engramdb.engine.ingest import Batch

HASH = "hash:64"




def _job_count(target: Target) -> int:
    return len(target.probe.job_rows())


def test_a_memory_no_worker_embedded_is_found_by_keyword_and_counted(db_target: Target) -> None:
    path = db_target.db
    with Memory(path, embedder=HASH) as mem:
        # written as a background add writes, by a process whose worker never got to it
        queue(mem.store, ["Pimenta the cat sleeps on the radiator", "the tram to Belem leaves at nine"],
              user_id="u")
        queue(mem.store, ["another user's note about cats"], user_id="other")
        assert not mem.pipeline.worker_running

        found = mem.search("radiator", user_id="u", k=3)
        assert found.hits[0].record.content == "Pimenta the cat sleeps on the radiator"
        assert "bm25" in found.hits[0].sources and not any("dense" in h.sources for h in found.hits)
        assert found.unembedded == 2  # of this scope only
        [warning] = found.warnings
        assert "2 memories of this scope are not embedded yet" in warning and "engram flush" in warning
        assert found.to_dict()["unembedded"] == 2

        assert mem.search("Pimentaa radiatorr", user_id="u", k=3).hits == ()
        report = mem.flush()
        assert (report.done, report.failed, report.remaining) == (3, 0, 0)
        # a misspelt query shares no word with the memory: only its vectors can find it
        meaning = mem.search("Pimentaa radiatorr", user_id="u", k=3)
        top = meaning.hits[0]
        assert top.record.content == "Pimenta the cat sleeps on the radiator"
        assert "dense" in top.sources and "bm25" not in top.sources
        assert meaning.unembedded == 0 and meaning.warnings == ()


def test_a_running_worker_makes_the_warning_unnecessary(db_target: Target) -> None:
    path = db_target.db
    with Memory(path, embedder=HASH) as mem:
        mem.add("written and queued", user_id="u")
        result = mem.search("queued", user_id="u")
        assert mem.pipeline.worker_running
        # the count is there while the worker catches up; the advice to run a worker is not
        assert result.unembedded in (0, 1) and result.warnings == ()
        mem.flush()
        assert mem.search("queued", user_id="u").unembedded == 0


def test_inline_mode_writes_no_job_and_embeds_inside_each_write(db_target: Target,
                                                                request: pytest.FixtureRequest) -> None:
    path = db_target.db
    with Memory(path, embedder=HASH, background=False) as mem:
        [rec] = mem.add("the kettle is in the second cupboard", user_id="u")
        keys, model = stored_keys(path, rec.id)
        assert model == "hash-64" and keys is not None
        np.testing.assert_allclose(keys, expected_keys(rec), atol=1e-6)
        assert _job_count(db_target) == 0

        new = mem.update(rec.id, content="the kettle moved to the top shelf. It is red now.")
        np.testing.assert_allclose(stored_keys(path, rec.id)[0], expected_keys(new), atol=1e-6)
        successor = mem.supersede(rec.id, "there is no kettle any more", user_id="u")
        np.testing.assert_allclose(stored_keys(path, successor.id)[0], expected_keys(successor), atol=1e-6)
        mem.add_many([Batch(messages=[{"role": "user", "content": f"bulk line {i}"} for i in range(5)],
                            user_id="u", session_id="s")])
        out = io.StringIO()
        mem.export_jsonl(out, user_id="u")
        target = make_target(request, "postgres" if db_target.pg else "sqlite", "copy")
        with Memory(target.db, embedder=HASH, background=False) as copy:
            copy.import_jsonl(out.getvalue())
            assert _job_count(target) == 0
            assert not copy.pipeline.worker_running

        assert _job_count(db_target) == 0
        assert not mem.pipeline.worker_running  # no thread was ever started
        assert all(keys is not None for keys, _ in db_target.probe.current_keys(64).values())
        hit = mem.search("kettles", user_id="u", k=1).hits[0]
        assert hit.record.id == successor.id and "dense" in hit.sources
        state = mem.status()
        assert state.stages == () and not state.background and state.pending == 0
        assert mem.flush().done == 0
    assert _job_count(db_target) == 0
