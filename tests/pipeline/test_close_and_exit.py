"""How processes leave the queue: ``engram add`` embeds its own write before it exits, a writer
with close_timeout=0 leaves its jobs queued (and ``engram search`` says so), ``engram flush``
finishes them, and a script that never calls close() still drains at exit (on both stores)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.pipeline import DIM, assert_embedded, job_rows, subprocess_env
from tests.support.probe import Target

from engramdb import Memory

ENV = subprocess_env(ENGRAM_EMBEDDER=f"hash:{DIM}")
ENGRAM = [sys.executable, "-c", "from engramdb.cli.main import main; main()"]


def _engram(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ENGRAM, *args], capture_output=True, text=True, env=ENV, timeout=120)


def _script(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=ENV, timeout=120)


def _search(path: Path | str, query: str) -> tuple[dict[str, object], str]:
    done = _engram("search", query, "--db", str(path), "--user", "u", "--json", "-k", "3")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


def test_engram_add_embeds_its_own_write_before_it_exits(db_target: Target) -> None:
    path = db_target.db
    added = _engram("add", "Pimenta the cat sleeps on the radiator", "--db", str(path), "--user", "u", "-q")
    assert added.returncode == 0 and added.stderr == "", added.stderr
    assert job_rows(path) == []
    result, err = _search(path, "Pimentaa radiatorr")  # no word in common: only its vectors find it
    hits = result["hits"]
    assert isinstance(hits, list) and hits[0]["id"] == added.stdout.strip() and "dense" in hits[0]["sources"]
    assert result["unembedded"] == 0 and err == ""


WRITER = r"""
import sys
from engramdb import Memory
from engramdb.engine.ingest import Batch
from tests.support.pipeline import SlowEmbedder
path, n = sys.argv[1], int(sys.argv[2])
m = Memory(path, embedder=SlowEmbedder(0.03), close_timeout=0)
def text(i):
    return "Pimenta the cat sleeps on the radiator" if i == 77 else f"queued note {i} about lantern{i}"
m.add_many([Batch([{"role": "user", "content": text(i)} for i in range(s, s + 50)], user_id="u", session_id=f"s{s}")
            for s in range(0, n, 50)])
m.close()
"""


def test_close_timeout_zero_leaves_jobs_queued_search_warns_and_flush_finishes(db_target: Target) -> None:
    path = db_target.db
    n = 200
    done = _script(WRITER, str(path), str(n))
    assert done.returncode == 0, done.stderr
    pending = len(job_rows(path))
    # close() waited only for the batch its thread had in hand (a batch of 64 takes 2 s here;
    # two, if the writes were slow enough to let it start a second one)
    assert n - 2 * 64 <= pending <= n, pending
    assert all(r[3] == "pending" for r in job_rows(path))

    result, err = _search(path, "lantern7")
    assert result["unembedded"] == pending
    assert f"engram: warning: {pending} memories of this scope are not embedded yet" in err

    flushed = _engram("flush", "--db", str(path), "--json")
    assert flushed.returncode == 0, flushed.stderr
    assert json.loads(flushed.stdout)["done"] == pending
    assert job_rows(path) == []
    result, err = _search(path, "Pimentaa radiatorr")  # no word in common: found by meaning only
    hits = result["hits"]
    assert isinstance(hits, list)
    assert hits[0]["content"] == "Pimenta the cat sleeps on the radiator"
    assert "dense" in hits[0]["sources"] and "bm25" not in hits[0]["sources"]
    assert result["unembedded"] == 0 and err == ""


EXITS_WITHOUT_CLOSE = r"""
import sys
from engramdb import Memory
from tests.support.pipeline import SlowEmbedder
path, how = sys.argv[1], sys.argv[2]
texts = [f"note {i} written by a script that forgets close" for i in range(100)]
if how == "dropped":  # not even a name bound to it
    Memory(path, embedder=SlowEmbedder(0.005)).add(texts, user_id="u")
else:
    m = Memory(path, embedder=SlowEmbedder(0.005))
    m.add(texts, user_id="u")
from tests.support.probe import Probe
print(len(Probe(path).job_rows()))
if how == "raises":
    raise RuntimeError("the script fails after writing")
"""


@pytest.mark.parametrize("how", ["returns", "dropped", "raises"])
def test_a_script_that_exits_without_close_still_drains(db_target: Target, how: str) -> None:
    path = db_target.db
    done = _script(EXITS_WITHOUT_CLOSE, str(path), how)
    assert done.returncode == (1 if how == "raises" else 0), done.stderr
    assert int(done.stdout.strip()) > 0  # work was left when the script's last line ran
    assert job_rows(path) == []
    with Memory(path, embedder=f"hash:{DIM}", background=False) as mem:
        records = mem.list(user_id="u", limit=200)
        assert len(records) == 100
    assert_embedded(path, records)
