"""The job queue through the Store port, on a real SQLite file and a real PostgreSQL database:
leases, stale claims, retries, erasure, statistics, and Memory.flush of one scope."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from tests.support.pipeline import DIM, expected_keys, queue
from tests.support.probe import Probe, Target

from engramdb import Memory
from engramdb.core.errors import EmbedderError
from engramdb.core.jobs import EMBED_STAGE, JobSpec, StageOutput
from engramdb.core.models import MemoryRecord, content_hash, utcnow
from engramdb.core.ports import Store
from engramdb.embedders.hashing import HashEmbedder
from engramdb.engine.inputs import make_records as _records
from engramdb.pipeline.embed import EmbedStage
from engramdb.pipeline.worker import Worker, WorkerOptions
from engramdb.registry import open_store

EMBEDDER = HashEmbedder(DIM)
STAGES = [EMBED_STAGE]


@pytest.fixture
def probe(db_target: Target) -> Probe:
    return db_target.probe


@pytest.fixture
def store(db_target: Target) -> Iterator[Store]:
    s = open_store(db_target.db)
    yield s
    s.close()


def _stage(store: Store) -> EmbedStage:
    return EmbedStage(lambda: EMBEDDER, store)


def _output(store: Store, records: Sequence[MemoryRecord]) -> StageOutput:
    return _stage(store).run(records)


def _texts(n: int, prefix: str = "note") -> list[str]:
    return [f"{prefix} number {i} about the {['garden', 'harbour', 'violin', 'glacier'][i % 4]}" for i in range(n)]


def test_a_claim_leases_jobs_to_one_worker(store: Store) -> None:
    records = queue(store, _texts(10))
    a = store.claim(STAGES, 4, worker="a", lease_s=60)
    b = store.claim(STAGES, 4, worker="b", lease_s=60)
    c = store.claim(STAGES, 4, worker="c", lease_s=60)
    assert [len(a), len(b), len(c)] == [4, 4, 2]
    assert store.claim(STAGES, 4, worker="d", lease_s=60) == []
    ids = [j.memory_id for j in a + b + c]
    assert sorted(ids) == sorted(r.id for r in records)  # every job once, oldest first within a claim
    assert [j.memory_id for j in a] == [r.id for r in records[:4]]
    assert len({j.token for j in a} | {j.token for j in b} | {j.token for j in c}) == 3
    assert all(j.record is not None and j.record.id == j.memory_id and j.attempts == 1 for j in a + b + c)
    assert store.open_jobs() == 10 and store.open_jobs(states=("running",)) == 10


def test_concurrent_claims_on_many_connections_lease_each_job_once(store: Store, probe: Probe) -> None:
    """Six claimers, each on a store (a connection pool, for PostgreSQL) of its own, racing."""
    records = queue(store, _texts(300))
    leased: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def claimer(i: int) -> None:
        own = open_store(str(probe.target))
        try:
            start.wait()
            while jobs := own.claim(STAGES, 7, worker=f"w{i}", lease_s=60):
                leased.extend(j.id for j in jobs)
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(leased) == len(set(leased)) == len(records)  # every job leased, none twice
    assert {r[3] for r in probe.job_rows()} == {"running"}


def test_an_expired_lease_makes_jobs_claimable_and_voids_the_old_claim(store: Store, probe: Probe) -> None:
    records = queue(store, _texts(3))
    old = store.claim(STAGES, 10, worker="dead", lease_s=0.05)
    assert len(old) == 3 and store.claim(STAGES, 10, worker="b", lease_s=60) == []
    time.sleep(0.1)
    # jobs that were tried (their worker may have died on them) come back one at a time
    [taken] = store.claim(STAGES, 10, worker="b", lease_s=60)
    assert taken.memory_id == records[0].id and taken.attempts == 2 and taken.token != old[0].token
    # the first worker wakes up: it completes what is still its own, not the job taken over
    assert store.complete(old, _output(store, [j.record for j in old if j.record]), seconds=0.01) == 2
    assert [r[2] for r in probe.job_rows()] == [records[0].id]
    assert probe.stored_keys(records[0].id, DIM)[0] is None  # the stale claim wrote nothing for it
    assert store.complete([taken], _output(store, [taken.record] if taken.record else []), seconds=0.01) == 1
    assert probe.job_rows() == [] and probe.jobs_logged() == 3
    for rec in records:
        keys, model = probe.stored_keys(rec.id, DIM)
        assert model == EMBEDDER.model_id
        np.testing.assert_allclose(keys, expected_keys(rec), atol=1e-6)


def test_an_update_voids_the_claim_and_its_new_job_embeds_the_new_text(store: Store, probe: Probe) -> None:
    [rec] = queue(store, ["the boat is painted blue"])
    [job] = store.claim(STAGES, 10, worker="a", lease_s=60)
    output = _output(store, [job.record] if job.record else [])  # embedded from the old text
    new = store.replace(_changed(rec, "the boat is painted bright red"), None, None, [_job(rec)])
    assert store.complete([job], output, seconds=0.01) == 0  # stale token: nothing written, nothing deleted
    assert probe.stored_keys(rec.id, DIM)[0] is None
    assert [(r[2], r[3], r[4]) for r in probe.job_rows()] == [(rec.id, "pending", 0)]
    result = Worker(store, [_stage(store)], WorkerOptions(batch=8)).drain()
    assert result.done == 1 and probe.job_rows() == []
    keys, _ = probe.stored_keys(rec.id, DIM)
    np.testing.assert_allclose(keys, expected_keys(new), atol=1e-6)
    assert not np.allclose(keys[0], expected_keys(rec)[0])


class _UpdatedMidBatch:
    """The embed stage, while another writer (its own connection) updates a memory of the batch."""

    def __init__(self, store: Store, db: object, target: MemoryRecord, content: str) -> None:
        self.inner = _stage(store)
        self.name, self.version = self.inner.name, self.inner.version
        self.db, self.target, self.content = db, target, content
        self.new: MemoryRecord | None = None

    def run(self, records: Sequence[MemoryRecord]) -> StageOutput:
        output = self.inner.run(records)
        if self.new is None:
            other = open_store(str(self.db))
            try:
                self.new = other.replace(_changed(self.target, self.content), None, None, [_job(self.target)])
            finally:
                other.close()
        return output


def test_an_update_while_the_job_runs_ends_with_vectors_of_the_new_content(store: Store,
                                                                           probe: Probe) -> None:
    records = queue(store, _texts(5))
    stage = _UpdatedMidBatch(store, probe.target, records[2], "an entirely different text about penguins")
    result = Worker(store, [stage], WorkerOptions(batch=8)).drain()
    # five claimed in the first batch, one of them void (4 done), then the update's job
    assert (result.claimed, result.done) == (6, 5)
    assert stage.new is not None and probe.job_rows() == []
    for rec in [*records[:2], stage.new, *records[3:]]:
        keys, model = probe.stored_keys(rec.id, DIM)
        assert model == EMBEDDER.model_id
        np.testing.assert_allclose(keys, expected_keys(rec), atol=1e-6)
    assert probe.versions(records[2].id) == 2
    assert probe.vector_rows()[records[2].id] == 1  # the old text's vectors were not written to any version


def test_a_memory_superseded_before_its_job_ran_is_not_embedded_its_successor_is(store: Store,
                                                                                 probe: Probe) -> None:
    [old] = queue(store, ["I live in Porto"])
    [new] = _records("I moved to Lisbon", old.scope)
    store.supersede(old.id, old.scope, new, None, None, [_job(new)])
    assert Worker(store, [_stage(store)], WorkerOptions(batch=8)).drain().done == 2
    assert probe.job_rows() == [] and probe.jobs_logged() == 2
    assert old.id not in probe.vector_rows()
    np.testing.assert_allclose(probe.stored_keys(new.id, DIM)[0], expected_keys(new), atol=1e-6)


def test_failures_back_off_then_fail_with_the_error_and_retry_starts_over(store: Store,
                                                                         probe: Probe) -> None:
    [rec] = queue(store, ["a record the embedder chokes on"])
    for attempt in (1, 2):
        [job] = store.claim(STAGES, 10, worker="a", lease_s=60)
        assert job.attempts == attempt
        assert store.fail_jobs([job], f"boom {attempt}", max_attempts=3, backoff=lambda n: 0.15 * n) == 0
        [(_, _, _, state, attempts, error)] = probe.job_rows()
        assert (state, attempts, error) == ("pending", attempt, f"boom {attempt}")
        assert store.claim(STAGES, 10, worker="a", lease_s=60) == []  # backing off
        assert store.open_jobs() == 1  # still open: flush waits for it
        time.sleep(0.15 * attempt + 0.02)
    [job] = store.claim(STAGES, 10, worker="a", lease_s=60)
    assert store.fail_jobs([job], "boom 3", max_attempts=3, backoff=lambda n: 0.01) == 1
    [(jid, _, mid, state, attempts, error)] = probe.job_rows()
    assert (mid, state, attempts, error) == (rec.id, "failed", 3, "boom 3")
    time.sleep(0.02)
    assert store.claim(STAGES, 10, worker="a", lease_s=60) == []
    assert store.open_jobs() == 0 and store.open_jobs(states=("failed",)) == 1
    [info] = store.list_jobs(state="failed")
    assert (info.id, info.memory_id, info.error, info.attempts) == (jid, rec.id, "boom 3", 3)

    assert store.retry_jobs(stage="other") == 0
    assert store.retry_jobs(ids=[jid]) == 1
    assert [(r[3], r[4], r[5]) for r in probe.job_rows()] == [("pending", 0, None)]
    assert store.retry_jobs() == 0  # nothing failed any more
    [job] = store.claim(STAGES, 10, worker="a", lease_s=60)
    assert job.attempts == 1
    assert store.complete([job], _output(store, [rec]), seconds=0.01) == 1


class _Poisoned:
    """The embed stage, failing any batch that holds the poisoned text."""

    def __init__(self, store: Store) -> None:
        self.inner = _stage(store)
        self.name, self.version = self.inner.name, self.inner.version
        self.batches: list[int] = []

    def run(self, records: Sequence[MemoryRecord]) -> StageOutput:
        self.batches.append(len(records))
        if any("poison" in r.content for r in records):
            raise EmbedderError("the endpoint rejects this text")
        return self.inner.run(records)


def test_a_failed_batch_is_retried_one_job_at_a_time(store: Store, probe: Probe) -> None:
    texts = _texts(6)
    texts[3] = "a poison pill of a text"
    records = queue(store, texts)
    stage = _Poisoned(store)
    opts = WorkerOptions(batch=6, max_attempts=2, backoff_s=0.01, backoff_max_s=0.02)
    result = Worker(store, [stage], opts).drain()
    # the batch of 6 fails; then each job alone: 5 pass, the poison fails again and is set aside
    assert stage.batches[0] == 6 and stage.batches[1:] == [1] * 6
    assert (result.done, result.failed) == (5, 1)
    [(_, _, mid, state, attempts, error)] = probe.job_rows()
    assert (mid, state, attempts) == (records[3].id, "failed", 2)
    assert error == "EmbedderError: the endpoint rejects this text"
    for rec in records:
        keys, _ = probe.stored_keys(rec.id, DIM)
        assert (keys is None) == (rec is records[3])
    # jobs queued later are not held up by the failed one, and go out as one batch again
    more = queue(store, _texts(3, "later"))
    assert [j.memory_id for j in store.claim(STAGES, 10, worker="a", lease_s=60)] == [r.id for r in more]


def test_release_gives_jobs_back_without_counting_an_attempt(store: Store, probe: Probe) -> None:
    queue(store, _texts(4))
    jobs = store.claim(STAGES, 4, worker="a", lease_s=60)
    store.release(jobs)
    assert [(r[3], r[4]) for r in probe.job_rows()] == [("pending", 0)] * 4
    again = store.claim(STAGES, 4, worker="b", lease_s=60)
    assert len(again) == 4 and all(j.attempts == 1 for j in again)  # untried: still one batch
    store.release(jobs)  # the first claim is void: releasing it changes nothing
    assert [(r[3], r[4]) for r in probe.job_rows()] == [("running", 1)] * 4


class _Interrupted:
    name, version = EMBED_STAGE, 1

    def run(self, records: Sequence[MemoryRecord]) -> StageOutput:
        raise KeyboardInterrupt


def test_an_interrupted_worker_releases_its_batch(store: Store, probe: Probe) -> None:
    queue(store, _texts(3))
    with pytest.raises(KeyboardInterrupt):
        Worker(store, [_Interrupted()]).run_batch()
    assert [(r[3], r[4]) for r in probe.job_rows()] == [("pending", 0)] * 3


def test_delete_and_delete_scope_remove_the_jobs_of_what_they_erase(store: Store, probe: Probe) -> None:
    kept = queue(store, _texts(2, "kept"), user_id="keep")
    gone = queue(store, _texts(3, "gone"), user_id="gone")
    doomed = queue(store, ["delete me please"], user_id="one")
    [claimed] = store.claim(STAGES, 1, worker="a", lease_s=60, scope=doomed[0].scope)
    # a failed job is erased too
    [bad] = store.claim(STAGES, 1, worker="a", lease_s=60, scope=gone[0].scope)
    store.fail_jobs([bad], "boom", max_attempts=1, backoff=lambda n: 0.0)

    store.delete(doomed[0].id)
    assert store.complete([claimed], _output(store, doomed), seconds=0.01) == 0  # its worker comes back late
    store.delete_scope(gone[0].scope)
    rows = probe.job_rows()
    assert sorted(r[2] for r in rows) == sorted(r.id for r in kept)
    for rec in [*doomed, *gone]:
        assert probe.versions(rec.id) == 0
    if probe.pg:
        return
    # nothing of the erased scope's ids is left in the file, job rows included (secure_delete)
    store.close()
    path = Path(probe.target)
    raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    for rec in gone:
        assert rec.id.encode() not in raw


def test_queue_stats_count_states_and_the_oldest_pending_job(store: Store) -> None:
    a = queue(store, _texts(3, "a"), user_id="a")
    time.sleep(0.01)
    b = queue(store, _texts(2, "b"), user_id="b")
    [running] = store.claim(STAGES, 1, worker="w", lease_s=60, scope=a[0].scope)
    [failed] = store.claim(STAGES, 1, worker="w", lease_s=60, scope=b[0].scope)
    store.fail_jobs([failed], "boom", max_attempts=1, backoff=lambda n: 0.0)

    [every] = store.queue_stats()
    assert (every.stage, every.pending, every.running, every.failed) == (EMBED_STAGE, 3, 1, 1)
    [sa] = store.queue_stats(a[0].scope)
    [sb] = store.queue_stats(b[0].scope)
    assert (sa.pending, sa.running, sa.failed) == (2, 1, 0)
    assert (sb.pending, sb.running, sb.failed) == (1, 0, 1)
    assert every.last_error == sb.last_error == "boom" and sa.last_error is None
    assert sa.oldest_pending is not None and sb.oldest_pending is not None
    assert every.oldest_pending == sa.oldest_pending < sb.oldest_pending
    assert store.open_jobs(a[0].scope) == 3 and store.open_jobs(b[0].scope) == 1
    assert store.open_jobs(b[0].scope, states=("failed",)) == 1

    assert store.complete([running], _output(store, [running.record] if running.record else []),
                          seconds=0.5) == 1
    [after] = store.queue_stats()
    assert (after.pending, after.running, after.failed) == (3, 0, 1)
    assert after.done_last_minute == after.done_last_hour == 1 and after.jobs_per_second == pytest.approx(2.0)


@pytest.mark.parametrize("thread", [False, True], ids=["flush-works", "thread-works"])
def test_flush_of_a_scope_waits_for_that_scope_only(db_target: Target, thread: bool) -> None:
    with Memory(db_target.db, embedder="hash:64", close_timeout=0) as mem:
        a = queue(mem.store, _texts(4, "a"), user_id="a")
        b = queue(mem.store, _texts(3, "b"), user_id="b")
        stuck = queue(mem.store, ["held by a worker that died"], user_id="c")
        mem.store.claim(STAGES, 1, worker="dead", lease_s=60, scope=stuck[0].scope)
        if thread:
            mem.start()
        report = mem.flush(timeout=20, user_id="a")
        # a running thread may finish jobs before flush counts them: done is exact only without one
        assert (report.failed, report.remaining) == (0, 0) and (report.done == 4 or (thread and report.done <= 4))
        assert report.seconds < 10
        assert mem.store.open_jobs(a[0].scope) == 0
        if not thread:
            assert mem.store.open_jobs(b[0].scope) == 3  # nobody worked on b
        started = time.monotonic()
        left = mem.flush(timeout=0.3, user_id="c")
        assert left.remaining == 1 and left.done == 0 and time.monotonic() - started < 5
        assert mem.flush(timeout=20, user_id="b").remaining == 0


def _changed(rec: MemoryRecord, content: str) -> MemoryRecord:
    return replace(rec, content=content, content_hash=content_hash(content), updated_at=utcnow())


def _job(rec: MemoryRecord) -> JobSpec:
    return JobSpec(EMBED_STAGE, rec.id)


def test_a_job_whose_workers_keep_dying_is_set_aside(store: Store, probe: Probe) -> None:
    [rec] = queue(store, ["this text kills its worker"], user_id="u")
    opts = WorkerOptions(max_attempts=3, lease_s=0.01)
    for _ in range(opts.max_attempts):  # three workers claim it and die before they finish
        assert store.claim(STAGES, 1, worker="doomed", lease_s=0.01)
        time.sleep(0.02)
    result = Worker(store, [_stage(store)], opts).run_batch()
    assert (result.claimed, result.done, result.failed) == (1, 0, 1)
    [job] = store.list_jobs(state="failed")
    assert job.memory_id == rec.id and job.error is not None and "died 3 times" in job.error
    assert probe.stored_keys(rec.id, DIM) == (None, None)  # it was not run a fourth time


def test_a_worker_whose_clock_is_behind_keeps_its_lease_on_postgres(store: Store, probe: Probe,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL's workers may run on many hosts: leases are judged by the database's clock, so
    a worker whose own clock is an hour behind still holds its claim for the whole lease."""
    if not probe.pg:
        pytest.skip("a SQLite file has one host's clock")
    records = queue(store, _texts(3))
    behind = utcnow() - timedelta(hours=1)
    with monkeypatch.context() as m:
        for module in ("engramdb.stores.pg_queue", "engramdb.stores.postgres"):
            m.setattr(f"{module}.utcnow", lambda: behind)
        held = store.claim(STAGES, 10, worker="behind", lease_s=60)
    assert len(held) == 3
    assert store.claim(STAGES, 10, worker="on-time", lease_s=60) == []  # not expired an hour ago
    assert store.complete(held, _output(store, records), seconds=0.01) == 3
    assert probe.job_rows() == [] and probe.jobs_logged() == 3
