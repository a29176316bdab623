"""The maintenance pass (issue 12 §6), on a SQLite file and on PostgreSQL: archiving below the
retention threshold (hidden, never deleted, restorable), TTL erasure (down to the file's bytes in
SQLite), dry runs, bounded work, the periodic pass of the background worker and of `engram
worker`, and `engram maintain`."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.support.probe import Target

from engramdb import Memory
from engramdb.cli.main import cli
from engramdb.core.errors import ValidationError
from engramdb.core.models import Kind, utcnow
from engramdb.engine.maintenance import MaintenancePolicy
from engramdb.pipeline.worker import WorkerOptions

LATER = timedelta(days=100)  # never recalled, importance 0: R = e^(-100/30) = 0.036 < 0.05


def secret(tag: str) -> str:
    return f"{tag}{uuid.uuid4().hex[:12]}q7"


def raw_hits(path: Path, needle: str) -> int:
    """Occurrences of the needle (and of its last 8 characters: FTS stores terms prefix-compressed)
    in the database file, its -wal and its -shm."""
    blobs = [p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
    return sum(b.count(probe.encode()) for b in blobs for probe in {needle, needle[-8:]})


def raw_hits_of(target: Target, needle: str) -> int:
    """raw_hits in a SQLite file; in PostgreSQL, the rows of any table that hold the needle."""
    if not target.pg:
        return raw_hits(Path(target.db), needle)
    tables = [t for (t,) in target.probe.rows("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    return sum(int(target.probe.value(f"SELECT count(*) FROM {t} x WHERE x::text LIKE ?", (f"%{needle}%",)))
               for t in tables)


def table_dump(target: Target) -> list[tuple[object, ...]]:
    rows = target.probe.rows("SELECT * FROM memories ORDER BY id, version")
    rows += target.probe.rows("SELECT * FROM history ORDER BY seq")
    rows += target.probe.rows("SELECT * FROM meta ORDER BY key")
    return rows


@pytest.fixture
def path(db_target: Target) -> str | Path:
    return db_target.db


def _seed(mem: Memory) -> dict[str, str]:
    """A turn, a note, a fact, a summary, an important note, a recalled note; returns name -> id."""
    ids = {}
    ids["turn"] = mem.add([{"role": "user", "content": "I bought a kayak"}], user_id="u", session_id="s")[0].id
    ids["note"] = mem.add("the kayak is red", user_id="u", kind=Kind.NOTE)[0].id
    ids["fact"] = mem.add("user owns a kayak", user_id="u", kind=Kind.FACT, provenance=[ids["turn"]])[0].id
    ids["summary"] = mem.add("a chat about a kayak", user_id="u", kind=Kind.SUMMARY)[0].id
    ids["important"] = mem.add("allergic to peanuts", user_id="u", kind=Kind.NOTE,
                               metadata={"importance": 1.0})[0].id  # S = 60: R = e^(-100/60) = 0.19
    ids["profile"] = mem.add("likes boats", user_id="u", kind=Kind.PROFILE)[0].id
    return ids


def test_forgotten_memories_are_archived_hidden_and_restorable(path: Path) -> None:
    with Memory(path, embedder="hash", background=False) as mem:
        ids = _seed(mem)
        assert mem.maintain().archived == ()  # all fresh
        at = utcnow() + LATER
        report = mem.maintain(now=at)
        archived = {a.memory_id: a for a in report.archived}
        assert set(archived) == {ids["note"], ids["fact"], ids["summary"]}  # no turn, profile, important note
        for a in archived.values():
            assert a.retention == pytest.approx(0.0357, abs=1e-3)
        visible = {r.id for r in mem.list(user_id="u")}
        assert visible == {ids["turn"], ids["important"], ids["profile"]}
        assert mem.count(user_id="u") == 3
        hits = mem.search("kayak red", user_id="u", k=10)
        assert not {h.record.id for h in hits.hits} & set(archived)
        # asked for, they are there; nothing was deleted
        assert {r.id for r in mem.list(user_id="u", include_archived=True)} == set(ids.values())
        found = mem.search("kayak red", user_id="u", k=10, include_archived=True)
        assert ids["note"] in {h.record.id for h in found.hits}
        assert {r.id for r in mem.archived(user_id="u")} == set(archived)
        assert mem.archived(user_id="someone else") == []
        assert mem.get(ids["note"]).content == "the kayak is red"
        # a read as of before the pass still sees them
        assert ids["note"] in {r.id for r in mem.list(user_id="u", as_of=at - timedelta(seconds=1))}
        # another user cannot restore them; the owner can, and the next pass leaves them alone
        assert mem.restore_archived([ids["note"]], user_id="v") == 0
        assert mem.restore_archived([ids["note"], ids["fact"]], user_id="u") == 2
        assert mem.restore_archived(ids["note"]) == 0  # already back
        assert {r.id for r in mem.archived(user_id="u")} == {ids["summary"]}
        assert ids["note"] in {h.record.id for h in mem.search("kayak red", user_id="u", k=10).hits}
        assert mem.maintain(now=at).archived == ()  # restored counts as recalled now


def test_archive_turns_and_recalls_keep_memories(path: Path) -> None:
    policy = MaintenancePolicy(archive_turns=True)
    with Memory(path, embedder="hash", background=False, maintenance=policy) as mem:
        turn, = mem.add([{"role": "user", "content": "I bought a kayak"}], user_id="u", session_id="s")
        recalled, = mem.add("the paddle is blue", user_id="u", kind=Kind.NOTE)
        assert [h.record.id for h in mem.search("paddle blue", user_id="u", k=1).packed] == [recalled.id]
        # recalled once: S = 60; its last recall is about now: R = e^(-100/60) = 0.19
        report = mem.maintain(now=utcnow() + LATER)
        assert {a.memory_id for a in report.archived} == {turn.id}


def test_expired_memories_are_erased_to_the_last_byte(path: Path, db_target: Target) -> None:
    s_turn, s_derived = secret("zx"), secret("zy")
    with Memory(path, embedder="hash", background=False) as mem:
        mem.add([f"ordinary filler note {i} about lunch" for i in range(30)], user_id="u", kind=Kind.NOTE)
        gone, = mem.add(f"the door code is {s_turn}", user_id="u", kind=Kind.NOTE, ttl=60)
        derived, = mem.add(f"user door code {s_derived}", user_id="u", kind=Kind.FACT, provenance=[gone.id])
        kept, = mem.add("the door is green", user_id="u", kind=Kind.NOTE)
        assert raw_hits_of(db_target, s_turn) > 0 and raw_hits_of(db_target, s_derived) > 0  # the probe sees them
        assert mem.maintain().erased == ()  # not expired yet
        later = utcnow() + timedelta(hours=1)
        report = mem.maintain(now=later)
        assert set(report.erased) == {gone.id, derived.id}  # and what was derived from it
        assert raw_hits_of(db_target, s_turn) == 0 and raw_hits_of(db_target, s_derived) == 0
        assert {r.id for r in mem.list(user_id="u", include_archived=True)} >= {kept.id}
        assert gone.id not in {r.id for r in mem.list(user_id="u", include_archived=True)}
        assert [e.action.value for e in mem.history(gone.id)] == ["delete"]  # a tombstone, no content
        assert mem.maintain(now=later).erased == ()
    assert raw_hits_of(db_target, s_turn) == 0 and raw_hits_of(db_target, s_derived) == 0


def test_an_archived_fact_is_still_superseded_by_a_newer_value_of_its_slot(path: Path) -> None:
    """Reconciliation sees archived facts (the store's reads include them unless told otherwise),
    so an archived old value is closed when a new one is said, and a restore cannot bring back
    two current values of one slot."""
    with Memory(path, embedder="hash", background=False, facts=True) as mem:
        mem.add([{"role": "user", "content": "I live in Lisbon."}], user_id="u", session_id="s1",
                timestamp="2024-01-01")
        lisbon, = mem.facts(user_id="u")
        assert [a.memory_id for a in mem.maintain(now=utcnow() + LATER).archived] == [lisbon.id]
        mem.add([{"role": "user", "content": "I live in Berlin now."}], user_id="u", session_id="s2",
                timestamp="2024-06-01")
        assert [f.content for f in mem.facts(user_id="u")] == ["The user lives in Berlin"]
        old = mem.get(lisbon.id)
        assert old.superseded_by is not None and old.valid_to is not None
        assert mem.restore_archived(lisbon.id) == 0  # superseded: not a current memory any more


def test_a_dry_run_changes_nothing_and_says_what_the_pass_would_do(path: Path, db_target: Target) -> None:
    with Memory(path, embedder="hash", background=False) as mem:
        ids = _seed(mem)
        expiring, = mem.add("a reminder for today", user_id="u", kind=Kind.NOTE, ttl=60)
        at = utcnow() + LATER
        before = table_dump(db_target)
        dry = mem.maintain(dry_run=True, now=at)
        assert table_dump(db_target) == before
        assert dry.dry_run and dry.erased == (expiring.id,)
        assert {a.memory_id for a in dry.archived} == {ids["note"], ids["fact"], ids["summary"]}
        real = mem.maintain(now=at)
        assert real.archived == dry.archived and real.erased == dry.erased and not real.dry_run


def test_work_per_pass_is_bounded(path: Path) -> None:
    policy = MaintenancePolicy(max_archive=2, max_erase=1)
    with Memory(path, embedder="hash", background=False, maintenance=policy) as mem:
        mem.add([f"note {i}" for i in range(5)], user_id="u", kind=Kind.NOTE)
        mem.add(["soon gone a", "soon gone b"], user_id="u", kind=Kind.NOTE, ttl=60)
        at = utcnow() + LATER
        sizes = []
        while not (report := mem.maintain(now=at)).complete:
            sizes.append((len(report.archived), len(report.erased)))
        sizes.append((len(report.archived), len(report.erased)))
        assert sizes == [(2, 1), (2, 1), (1, 0)]
        assert len(mem.archived(user_id="u")) == 5


def test_policy_is_checked() -> None:
    with pytest.raises(ValidationError):
        MaintenancePolicy(archive_below=1.5)
    with pytest.raises(ValidationError):
        MaintenancePolicy(every_s=0)


def _until(predicate: object, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_the_background_worker_runs_the_pass_when_idle(path: Path, db_target: Target) -> None:
    s = secret("zw")
    policy = MaintenancePolicy(every_s=0.2)
    with Memory(path, embedder="hash", maintenance=policy, worker=WorkerOptions(idle_s=0.05)) as mem:
        rec, = mem.add(f"temporary {s}", user_id="u", kind=Kind.NOTE, ttl=0.5)
        assert mem.pipeline.worker_running
        assert _until(lambda: not db_target.probe.versions(rec.id)), "the periodic pass never erased the expired memory"
        assert _until(lambda: raw_hits_of(db_target, s) == 0)


def test_an_engram_worker_runs_the_pass_when_idle(path: Path, db_target: Target) -> None:
    with Memory(path, embedder="hash", background=False) as writer:
        rec, = writer.add("short lived", user_id="u", kind=Kind.NOTE, ttl=0.3)
    stop = threading.Event()
    with Memory(path, embedder="hash", maintenance=MaintenancePolicy(every_s=0.2),
                worker=WorkerOptions(idle_s=0.05, threads=0)) as mem:
        thread = threading.Thread(target=lambda: mem.pipeline.work(stop), daemon=True)
        thread.start()
        try:
            assert _until(lambda: not db_target.probe.versions(rec.id))
        finally:
            stop.set()
            thread.join(10)


def test_engram_maintain_prints_its_operations(path: Path, db_target: Target) -> None:
    with Memory(path, embedder="hash", background=False) as mem:
        rec, = mem.add("gone soon", user_id="u", kind=Kind.NOTE, ttl=0.2)
    time.sleep(0.3)
    runner = CliRunner()
    dry = runner.invoke(cli, ["maintain", "--db", str(path), "--embedder", "hash", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    lines = [json.loads(line) for line in dry.output.splitlines()]
    assert lines[0] == {"op": "would erase", "id": rec.id}
    assert lines[-1]["op"] == "summary" and lines[-1]["dry_run"] is True
    assert db_target.probe.versions(rec.id)
    done = runner.invoke(cli, ["maintain", "--db", str(path), "--embedder", "hash", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output.splitlines()[0]) == {"op": "erase", "id": rec.id}
    assert not db_target.probe.versions(rec.id)
