"""``engram demo``: import a real conversation, run a few searches, print what the agent gets."""

from __future__ import annotations

import tempfile
import time
from importlib import resources
from pathlib import Path

import click

from engramdb.cli.importing import write_batches
from engramdb.cli.output import print_kv
from engramdb.core.errors import ImportFormatError
from engramdb.engine.memory import Memory
from engramdb.formats.base import load_json
from engramdb.formats.detect import parse_file
from engramdb.formats.locomo import locomo_batches

SHARED_LOCOMO = Path("..") / "shared" / "data" / "locomo" / "locomo_dev.json"
SAMPLE_QUESTIONS = (
    "What is Sam allergic to?",
    "What happened to the half marathon plans?",
    "Where did Ana eat when she visited?",
)


@click.command()
@click.option("--db", default=None, metavar="PATH",
              help="Database file to keep (default: a temporary file, removed at the end).")
@click.option("--embedder", envvar="ENGRAM_EMBEDDER", default=None, help="local (default), hash or openai:MODEL.")
@click.option("--data", "data", type=click.Path(path_type=Path), default=None,
              help="A LoCoMo JSON file (default: ../shared/data when present, else the bundled sample).")
@click.option("--budget", type=click.IntRange(1), default=300, show_default=True)
def demo(db: str | None, embedder: str | None, data: Path | None, budget: int) -> None:
    """The quick-start job: import, search, print the packed context."""
    if data is None and SHARED_LOCOMO.is_file():
        data = SHARED_LOCOMO
    if db is not None:
        _run(db, embedder, data, budget)
        click.echo(f"\ndatabase: {db}")
        return
    with tempfile.TemporaryDirectory(prefix="engram-demo-") as workdir:
        _run(str(Path(workdir) / "demo.db"), embedder, data, budget)
    click.echo("\ndatabase: temporary, removed (engram demo --db PATH keeps one)")


def _run(db_path: str, embedder: str | None, data: Path | None, budget: int) -> None:
    with Memory(db_path, embedder=embedder) as mem:
        if data is not None:
            user, questions = _import_locomo(mem, data)
        else:
            user, questions = _import_sample(mem)
        for question in questions:
            t0 = time.perf_counter()
            result = mem.search(question, user_id=user, budget_tokens=budget)
            ms = (time.perf_counter() - t0) * 1000
            click.echo("")
            print_kv({"question": question, "search": f"{ms:.1f} ms, {len(result.packed)} memories, "
                      f"{result.context_tokens}/{budget} tokens", "context": "\n" + result.context})


def _import_locomo(mem: Memory, path: Path) -> tuple[str, list[str]]:
    samples = load_json(path)
    if not isinstance(samples, list) or not samples or not isinstance(samples[0], dict):
        raise ImportFormatError("a LoCoMo file is a JSON list of samples", path=str(path))
    first = samples[0]
    batches = locomo_batches([first], path, user_id=None, agent_id=None)
    t0 = time.perf_counter()
    n = write_batches(mem, batches, show=True)
    click.echo(f"imported {n} turns of LoCoMo {first['sample_id']} in {time.perf_counter() - t0:.1f} s "
               f"({path})")
    questions = [q["question"] for q in first["qa"] if q.get("category") in (1, 2, 4)][:3]
    return str(first["sample_id"]), questions


def _import_sample(mem: Memory) -> tuple[str, list[str]]:
    sample = resources.files("engramdb").joinpath("samples", "sample_chat.jsonl")
    with resources.as_file(sample) as path:
        parsed = parse_file(path, fmt="jsonl", user_id="sam")
    n = write_batches(mem, parsed.batches, show=True)
    click.echo(f"imported {n} turns of the bundled sample conversation")
    return "sam", list(SAMPLE_QUESTIONS)
