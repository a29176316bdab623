"""The README, run as written: its CLI block in a fresh shell after the quick start, its Library
example in a fresh directory, with every commented claim checked."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import engramdb

README = Path(__file__).resolve().parents[2] / "README.md"
VENV = Path(sys.prefix)

LOCOMO_LIKE = [{
    "sample_id": "conv-26",
    "conversation": {
        "speaker_a": "Caroline", "speaker_b": "Melanie",
        "session_1_date_time": "1:56 pm on 8 May, 2023",
        "session_1": [
            {"speaker": "Caroline", "dia_id": "D1:1", "text": "I went to an LGBTQ support group yesterday."},
            {"speaker": "Melanie", "dia_id": "D1:2", "text": "That sounds powerful. How did it feel?"},
            {"speaker": "Caroline", "dia_id": "D1:3", "text": "I have been researching adoption agencies."},
        ],
        "session_2_date_time": "7:55 pm on 9 July, 2023",
        "session_2": [
            {"speaker": "Melanie", "dia_id": "D2:1", "text": "We went camping with the kids last week."},
            {"speaker": "Caroline", "dia_id": "D2:2", "text": "I applied to two adoption agencies!"},
        ],
    },
    "qa": [],
}]


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


def code_blocks(title: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", section(title), flags=re.S)


# ---- CLI ---------------------------------------------------------------------------------


@pytest.fixture()
def checkout(tmp_path: Path) -> Path:
    """A directory laid out as after the quick start: ./.venv, and ../shared/data next to it."""
    if not (VENV / "bin" / "activate").is_file() or not (VENV / "bin" / "engram").is_file():
        pytest.skip("not running from the project's virtualenv")
    repo = tmp_path / "engramdb"
    repo.mkdir()
    (repo / ".venv").symlink_to(VENV, target_is_directory=True)
    data = tmp_path / "shared" / "data" / "locomo"
    data.mkdir(parents=True)
    (data / "locomo_dev.json").write_text(json.dumps(LOCOMO_LIKE), encoding="utf-8")
    return repo


def test_readme_cli_block_runs_as_written(checkout: Path, tmp_path: Path) -> None:
    [block] = code_blocks("CLI", "bash")
    bin_dirs = {str(VENV / "bin"), str(Path(sys.executable).parent)}
    # a fresh shell: engram is not on PATH until the README says how to get it there
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p not in bin_dirs)
    env = {**os.environ, "PATH": path, "ENGRAM_DB": str(tmp_path / "readme.db"), "ENGRAM_EMBEDDER": "hash"}
    env.pop("VIRTUAL_ENV", None)
    script = checkout / "readme_cli.sh"
    script.write_text("set -euo pipefail\nset -x\n" + block, encoding="utf-8")
    done = subprocess.run(["bash", str(script)], cwd=checkout, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (checkout / "dump.jsonl").is_file()
    scopes = [json.loads(line) for line in done.stdout.splitlines() if '"sessions"' in line and "first" in line]
    assert {s["user_id"] for s in scopes} == {"conv-26", "sam"}


def test_quickstart_says_how_to_reach_engram() -> None:
    text = (README.parents[0] / "scripts" / "quickstart.sh").read_text(encoding="utf-8")
    assert "source .venv/bin/activate" in text


# ---- Library -------------------------------------------------------------------------------


def run_statements(code: str) -> list[tuple[str, Any]]:
    """Run ``code`` statement by statement (as a script would); (source, value) per expression."""
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    out: list[tuple[str, Any]] = []
    for stmt in ast.parse(code).body:
        source = ast.get_source_segment(code, stmt) or ""
        if isinstance(stmt, ast.Expr):
            out.append((source, eval(compile(ast.Expression(stmt.value), "<README>", "eval"), namespace)))
        else:
            exec(compile(ast.Module([stmt], []), "<README>", "exec"), namespace)
            out.append((source, None))
    out.append(("<namespace>", namespace))
    return out


def value_of(results: list[tuple[str, Any]], needle: str) -> Any:
    [value] = [v for src, v in results if needle in src and src.lstrip().startswith("mem.")]
    return value


def test_readme_library_example_holds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ENGRAM_EMBEDDER", raising=False)  # as written: the packaged model
    [code] = code_blocks("Library", "python")
    results = run_statements(code)
    ns = results[-1][1]
    result, rec, mem = ns["result"], ns["rec"], ns["mem"]
    try:
        assert (tmp_path / "memory.db").is_file()
        # ranked, score in [0, 1], higher is better; printed
        scores = [h.score for h in result.hits]
        assert scores and scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
        assert "Pimenta" in capsys.readouterr().out
        # chronological, dated, with speakers; <= 500 tokens
        assert result.context_tokens <= 500 and "2024-06-21" in result.context and "Pimenta" in result.context
        # the Pimenta turn
        assert rec.content == "I adopted a cat named Pimenta"
        # add, update with before/after
        history = value_of(results, "mem.history(")
        assert [e.action.value for e in history] == ["add", "update"]
        assert history[1].before["content"] == rec.content and "orange" in history[1].after["content"]
        # event time: only what was said by July (no kittens)
        by_july = value_of(results, "valid_at=")
        july = datetime(2024, 7, 1, tzinfo=UTC)
        assert by_july.hits and all(h.record.event_time <= july for h in by_july.hits)
        assert any("Pimenta" in h.record.content for h in by_july.hits)
        assert not any("kittens" in h.record.content for h in by_july.hits)
        assert any("kittens" in h.record.content for h in mem.search("cat", user_id="sam").hits)
        # system time: what memory held then (text before the update)
        then = [r.content for r in value_of(results, "as_of=")]
        assert "I adopted a cat named Pimenta" in then and not any("she is orange" in c for c in then)
        # scopes with memory counts
        [scope] = value_of(results, "mem.scopes(")
        assert (scope.user_id, scope.memories) == ("sam", 3)
        # really deleted
        with pytest.raises(engramdb.NotFoundError):
            mem.get(rec.id)
        assert value_of(results, "mem.reindex(") == 2
    finally:
        mem.close()


def run_block(checkout: Path, title: str, *, timeout: float, **env_vars: str) -> subprocess.CompletedProcess[str]:
    """The bash block of README section ``title``, run as written from ``checkout`` (hash embedder,
    no $ENGRAM_DB), failing the test unless it exits 0."""
    [block] = code_blocks(title, "bash")
    env = {**os.environ, "ENGRAM_EMBEDDER": "hash", **env_vars}
    env.pop("ENGRAM_DB", None)
    script = checkout / "readme_block.sh"
    script.write_text("set -euo pipefail\n" + block, encoding="utf-8")
    done = subprocess.run(["bash", str(script)], cwd=checkout, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_readme_serving_block_runs_as_written(checkout: Path, tmp_path: Path) -> None:
    """The Serving block, as written (port 8765 on loopback, a real `engram serve`)."""
    done = run_block(checkout, "Serving: HTTP API, MCP, web inspector", timeout=120)
    added, found, refused = [json.loads(line) for line in done.stdout.replace("}{", "}\n{").splitlines()]
    assert added["memories"][0]["content"] == "I prefer window seats"
    assert "window seats" in found["context"]
    assert refused["error"]["type"] == "forbidden"
    assert (checkout / "team.keys.db").is_file()


def test_readme_postgresql_block_runs_as_written(checkout: Path, tmp_path: Path,
                                                 request: pytest.FixtureRequest) -> None:
    """The PostgreSQL block, as written: its own throwaway server (scripts/dev_pg.py), the CLI on it."""
    request.getfixturevalue("pg_server")  # skips (or fails with ENGRAM_REQUIRE_PG=1) where PostgreSQL cannot run
    for name in ("scripts", "tests"):
        (checkout / name).symlink_to(README.parent / name, target_is_directory=True)
    done = run_block(checkout, "PostgreSQL", timeout=300, ENGRAM_FACTS="1")
    assert "Berlin" in done.stdout
    keys = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{") and '"tenant"' in line]
    assert [k["tenant"] for k in keys] == ["acme"] and keys[0]["name"] == "ci"
