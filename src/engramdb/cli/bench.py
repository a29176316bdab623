"""``engram bench ...``: benchmarks that print numbers and write JSON."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from engramdb.bench.baselines import METHODS
from engramdb.bench.common import DEFAULT_DATA
from engramdb.bench.metrics import BUDGETS
from engramdb.bench.runner import RunConfig

if TYPE_CHECKING:
    from engramdb.bench.answer import AnswerSetup

F = TypeVar("F", bound=Callable[..., Any])


@click.group()
def bench() -> None:
    """Benchmarks (speed and retrieval quality)."""


@bench.command()
@click.argument("locomo", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                default=DEFAULT_DATA / "locomo" / "locomo_dev.json")
@click.option("--embedder", envvar="ENGRAM_EMBEDDER", default=None)
@click.option("--repeats", type=click.IntRange(1), default=3, show_default=True,
              help="Rounds of the add, import and catch-up measures (the summary: min / median / max).")
@click.option("--adds", type=click.IntRange(1), default=200, show_default=True, help="Single-message adds per mode.")
@click.option("--lme", "longmemeval", type=click.Path(dir_okay=False, path_type=Path),
              default=DEFAULT_DATA / "longmemeval" / "longmemeval_s_dev.json.gz", show_default=True,
              help="LongMemEval file for the import of long turns.")
@click.option("--lme-questions", type=click.IntRange(0), default=2, show_default=True,
              help="Haystacks (~500 long turns each) imported from --lme; 0 skips it.")
@click.option("--worker-threads", type=click.IntRange(1), default=None,
              help="Also time search while catching up with the worker on a session of its own with this many "
                   "threads (local model).")
@click.option("--sizes", default="10000", show_default=True,
              help="Scope sizes for search latency, comma-separated (e.g. 10000,100000; empty: none).")
@click.option("--queries", type=click.IntRange(1), default=200, show_default=True,
              help="Searches per scope size.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("bench-out"))
@click.option("--seed", type=int, default=0, show_default=True)
def perf(locomo: Path, embedder: str | None, repeats: int, adds: int, longmemeval: Path, lme_questions: int,
         worker_threads: int | None, sizes: str, queries: int, out_dir: Path, seed: int) -> None:
    """add() latency, import and embedding catch-up, search while catching up, search at 10k/100k."""
    from engramdb.bench.perf import run_perf

    try:
        size_list = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter("sizes must be comma-separated integers") from None
    if lme_questions and not longmemeval.is_file():
        raise click.UsageError(f"LongMemEval data not found at {longmemeval} (give --lme PATH or --lme-questions 0)")
    run_perf(locomo, embedder=embedder, sizes=size_list, single_adds=adds, queries=queries, out_dir=out_dir,
             repeats=repeats, longmemeval=longmemeval if lme_questions else None, lme_questions=lme_questions,
             worker_threads=worker_threads, seed=seed)


@bench.command("serve")
@click.argument("locomo", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                default=DEFAULT_DATA / "locomo" / "locomo_dev.json")
@click.option("--embedder", envvar="ENGRAM_EMBEDDER", default=None)
@click.option("--clients", type=click.IntRange(1, 256), default=16, show_default=True, help="Concurrent clients.")
@click.option("--seconds", type=click.FloatRange(1, 3600), default=60, show_default=True, help="Length of each phase.")
@click.option("--topologies", default="one,two", show_default=True,
              help="one: one server; two: two servers on one file + an engram worker process.")
@click.option("--conversations", type=click.IntRange(1), default=None, help="Seed only the first N conversations.")
@click.option("--profile", is_flag=True, help="Sample a server with py-spy during the search phase.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("bench-out"))
def serve_load(locomo: Path, embedder: str | None, clients: int, seconds: float, topologies: str,
               conversations: int | None, profile: bool, out_dir: Path) -> None:
    """Sustained load on real engram serve processes over loopback: adds, searches, a 1:4 mix."""
    from engramdb.bench.serve_load import TOPOLOGIES, run_serve_load

    chosen = [t.strip() for t in topologies.split(",") if t.strip()]
    if not chosen or any(t not in TOPOLOGIES for t in chosen):
        raise click.BadParameter(f"topologies: comma-separated among {', '.join(TOPOLOGIES)}")
    run_serve_load(locomo, embedder=embedder, clients=clients, seconds=seconds, out_dir=out_dir,
                   topologies=chosen, profile=profile, conversations=conversations)


@bench.command()
@click.option("--sizes", default="1000,10000", show_default=True, help="Memories in the file, comma-separated.")
@click.option("--deletes", type=click.IntRange(1), default=15, show_default=True,
              help="Single deletes timed per kind (turn, note) and size.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("bench-out"))
@click.option("--seed", type=int, default=0, show_default=True)
def erasure(sizes: str, deletes: int, out_dir: Path, seed: int) -> None:
    """What delete / forget_user cost when they leave nothing in the file (ms per call)."""
    from engramdb.bench.erasure import run_erasure

    try:
        size_list = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter("sizes must be comma-separated integers") from None
    if any(n < 20 * deletes for n in size_list):
        raise click.BadParameter(f"each size must be at least {20 * deletes} (20 x --deletes)")
    run_erasure(sizes=size_list, deletes=deletes, out_dir=out_dir, seed=seed)


def _int_list(value: str, name: str) -> list[int]:
    try:
        out = [int(s) for s in value.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter(f"{name} must be comma-separated integers") from None
    if not out or min(out) < 1:
        raise click.BadParameter(f"{name} must list positive integers")
    return out


@bench.command()
@click.option("--locomo", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=DEFAULT_DATA / "locomo" / "locomo_dev.json", show_default=True)
@click.option("--longmemeval", type=click.Path(dir_okay=False, path_type=Path),
              default=DEFAULT_DATA / "longmemeval" / "longmemeval_s_dev.json.gz", show_default=True,
              help="Skipped when the file is not there.")
@click.option("--models", default="all-MiniLM-L6-v2,all-MiniLM-L6-v2-q8c", show_default=True,
              help="Comma-separated local model names.")
@click.option("--threads", default="1,2", show_default=True, help="onnxruntime intra-op threads, comma-separated.")
@click.option("--batch-sizes", default="16", show_default=True, help="Texts per model run, comma-separated.")
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True, help="Turns per workload.")
@click.option("--repeats", type=click.IntRange(1), default=3, show_default=True)
@click.option("--call-turns", type=click.IntRange(1), default=64, show_default=True,
              help="Turns per embed_documents call (a worker's claim).")
@click.option("--no-concurrency", is_flag=True, help="Skip the query-latency-under-load table.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("bench-out"))
def embed(locomo: Path, longmemeval: Path, models: str, threads: str, batch_sizes: str, limit: int, repeats: int,
          call_turns: int, no_concurrency: bool, out_dir: Path) -> None:
    """Local embedder throughput (texts/s, turns/s with sentence keys) and query latency under load."""
    from engramdb.bench.embed_throughput import run_embed

    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        raise click.BadParameter("give at least one model", param_hint="--models")
    run_embed(locomo, longmemeval if longmemeval.is_file() else None, models=names,
              threads=_int_list(threads, "--threads"), batch_sizes=_int_list(batch_sizes, "--batch-sizes"),
              limit=limit, repeats=repeats, call_turns=call_turns, concurrency=not no_concurrency, out_dir=out_dir)


def _retrieval_options(fn: F) -> F:
    fn = click.option("--cache", "cache_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
                      help="Embedding cache file (default: the user cache dir, embeddings.sqlite).")(fn)
    fn = click.option("--no-cache", is_flag=True, help="Do not read or write the on-disk embedding cache.")(fn)
    fn = click.option("--embedder", envvar="ENGRAM_EMBEDDER", default=None,
                      help="local (default: the packaged model), hash[:DIM] or openai:MODEL.")(fn)
    fn = click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random control.")(fn)
    fn = click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
                      default=Path("bench-out"), show_default=True)(fn)
    fn = click.option("--methods", default=",".join(METHODS), show_default=True,
                      help="Comma-separated: bm25, dense, hybrid, engramdb, random.")(fn)
    fn = click.option("--limit", type=click.IntRange(1), default=None,
                      help="Only the first N conversations (LoCoMo) or questions (LongMemEval).")(fn)
    fn = click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
                      help="Override one of engramdb's SearchParams for this run (repeatable), e.g. "
                           "update_weight=0 for a 'before' run.")(fn)
    fn = click.option("--db", "db", default=None, metavar="URL",
                      help="A PostgreSQL server (postgresql://...): each store is a fresh database created there and "
                           "dropped after it (default: fresh SQLite files).")(fn)
    return fn


def _param_overrides(params: tuple[str, ...]) -> tuple[tuple[str, float | int | str | bool], ...]:
    """``NAME=VALUE`` pairs checked against SearchParams' fields and typed like their defaults."""
    from dataclasses import fields

    from engramdb.retrieval.search import SearchParams

    defaults = {f.name: getattr(SearchParams(), f.name) for f in fields(SearchParams)}
    out: list[tuple[str, float | int | str | bool]] = []
    for item in params:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or name not in defaults:
            raise click.BadParameter(f"{item!r}: expected NAME=VALUE with NAME one of {', '.join(sorted(defaults))}",
                                     param_hint="--param")
        kind = type(defaults[name])
        try:
            value: float | int | str | bool
            if kind is bool:
                if raw.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(raw)
                value = raw.lower() in ("true", "1")
            else:
                value = kind(raw)
        except ValueError:
            raise click.BadParameter(f"{item!r}: {name} takes a {kind.__name__}", param_hint="--param") from None
        out.append((name, value))
    return tuple(out)


def _config(methods: str, limit: int | None, out_dir: Path, seed: int, embedder: str | None, no_cache: bool,
            cache_path: Path | None, params: tuple[str, ...], db: str | None,
            answer_budget: int | None = None) -> RunConfig:
    from engramdb.bench.baselines import parse_methods
    from engramdb.bench.runner import default_cache
    from engramdb.core.errors import ValidationError

    try:
        names = parse_methods(methods)
    except ValidationError as exc:
        raise click.BadParameter(str(exc), param_hint="--methods") from None
    cache = None if no_cache else (cache_path or default_cache())
    if db is not None and not db.startswith(("postgresql://", "postgres://")):
        raise click.BadParameter("give a PostgreSQL server URL (postgresql://...)", param_hint="--db")
    return RunConfig(methods=tuple(names), budgets=BUDGETS, seed=seed, limit=limit, embedder=embedder,
                     cache=cache, out_dir=out_dir, answer_budget=answer_budget,
                     param_overrides=_param_overrides(params), db=db)


@bench.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                default=DEFAULT_DATA / "locomo" / "locomo_dev.json")
@_retrieval_options
@click.option("--answer-with", "base_url", default=None, metavar="BASE_URL",
              help="OpenAI-compatible endpoint for answer accuracy (key: $ENGRAM_LLM_API_KEY or $OPENAI_API_KEY).")
@click.option("--answer-model", default=None, help="Reader model (with --answer-with).")
@click.option("--judge-model", default=None, help="Judge model (default: the reader model).")
@click.option("--runs", type=click.IntRange(1), default=1, show_default=True, help="Answer-and-judge repetitions.")
@click.option("--answer-budget", type=click.Choice([str(b) for b in BUDGETS]), default="1000", show_default=True,
              help="Context budget (tokens) the reader is given.")
@click.option("--answer-methods", default="engramdb", show_default=True,
              help="Methods whose packed context is answered from.")
def locomo(path: Path, db: str | None, limit: int | None, params: tuple[str, ...], methods: str, out_dir: Path,
           seed: int, embedder: str | None, no_cache: bool, cache_path: Path | None, base_url: str | None,
           answer_model: str | None, judge_model: str | None, runs: int, answer_budget: str,
           answer_methods: str) -> None:
    """Evidence recall on LoCoMo for engramdb and baselines (BM25, dense, hybrid, random)."""
    from engramdb.bench.locomo import run_locomo

    setup = _answer_setup(base_url, answer_model, judge_model, runs, int(answer_budget), answer_methods)
    config = _config(methods, limit, out_dir, seed, embedder, no_cache, cache_path, params, db,
                     int(answer_budget) if setup is not None else None)
    missing = [m for m in (setup.methods if setup else ()) if m not in config.methods]
    if missing:
        raise click.UsageError(f"--answer-methods {', '.join(missing)} not among --methods")
    if setup is None:
        click.echo("answer quality: skipped (give --answer-with BASE_URL --answer-model MODEL to measure it)",
                   err=True)
    run_locomo(path, config, setup)


LONGMEMEVAL_DEV = DEFAULT_DATA / "longmemeval" / "longmemeval_s_dev.json.gz"
LONGMEMEVAL_SAMPLE = DEFAULT_DATA / "longmemeval" / "longmemeval_s_sample.json.gz"


@bench.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=False)
@_retrieval_options
@click.option("--sample", is_flag=True, help=f"The 12-question smoke sample ({LONGMEMEVAL_SAMPLE.name}) "
              f"instead of the 150-question dev split ({LONGMEMEVAL_DEV.name}).")
@click.option("--shared-store", is_flag=True,
              help="Put every haystack in one store (BM25 statistics then span all of them; for comparison).")
@click.option("--max-minutes", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Start no new question after this many minutes; report on the questions that finished.")
@click.option("--types", default=None, metavar="TYPES",
              help="Only these question types, comma-separated (e.g. knowledge-update,multi-session; "
                   "abstention for the _abs questions).")
def longmemeval(path: Path | None, db: str | None, limit: int | None, params: tuple[str, ...], methods: str,
                out_dir: Path, seed: int, embedder: str | None,
                no_cache: bool, cache_path: Path | None, sample: bool, shared_store: bool,
                max_minutes: float | None, types: str | None) -> None:
    """Session- and turn-level evidence recall on LongMemEval for engramdb and baselines.

    PATH defaults to the 150-question dev split; each question gets a store of its own."""
    from engramdb.bench.longmemeval import run_longmemeval

    if path is not None and sample:
        raise click.UsageError("give either PATH or --sample")
    data = path or (LONGMEMEVAL_SAMPLE if sample else LONGMEMEVAL_DEV)
    if not data.is_file():
        raise click.UsageError(f"LongMemEval data not found at {data} (the shared data folder sits next to the "
                               "repository; or give PATH)")
    if shared_store and max_minutes is not None:
        raise click.UsageError("--max-minutes works with one store per question only")
    chosen = None if types is None else tuple(t.strip() for t in types.split(",") if t.strip())
    if chosen is not None and not chosen:
        raise click.BadParameter("give at least one question type", param_hint="--types")
    run_longmemeval(data, _config(methods, limit, out_dir, seed, embedder, no_cache, cache_path, params, db),
                    shared_store=shared_store, time_limit_s=None if max_minutes is None else max_minutes * 60,
                    types=chosen)


def _answer_setup(base_url: str | None, model: str | None, judge_model: str | None, runs: int, budget: int,
                  methods: str) -> AnswerSetup | None:
    if base_url is None:
        if model is not None:
            raise click.UsageError("--answer-model needs --answer-with BASE_URL")
        return None
    if model is None:
        raise click.UsageError("--answer-with needs --answer-model MODEL")
    from engramdb.bench.answer import AnswerSetup
    from engramdb.bench.baselines import parse_methods
    from engramdb.llms.openai import OpenAIChat, OpenAIChatOptions

    reader = OpenAIChat(OpenAIChatOptions.build(base_url=base_url, model=model))
    judge = OpenAIChat(OpenAIChatOptions.build(base_url=base_url, model=judge_model or model))
    return AnswerSetup(reader, judge, runs=runs, budget=budget, methods=tuple(parse_methods(methods)))


@bench.command()
@click.argument("locomo", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                default=DEFAULT_DATA / "locomo" / "locomo_dev.json")
@click.option("--embedder", envvar="ENGRAM_EMBEDDER", default=None)
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the first N conversations.")
@click.option("--no-tune", is_flag=True, help="Skip the cross-validated grid search.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("bench-out"))
def ablation(locomo: Path, embedder: str | None, limit: int | None, no_tune: bool, out_dir: Path) -> None:
    """Each retrieval technique on/off, and leave-one-conversation-out tuning (LoCoMo)."""
    from engramdb.bench.ablation import run_ablation

    run_ablation(locomo, out_dir=out_dir, embedder_spec=embedder, limit=limit, tune=not no_tune)


@bench.command("timelines")
@click.option("--background/--inline", default=True, show_default=True, help="Derive in the background pipeline.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("bench-out"))
def timelines(background: bool, out_dir: Path) -> None:
    """Hand-written timelines (moves, job changes, repeats, corrections, TTLs): how many final states
    and time-travel views the facts get right, with no LLM."""
    from engramdb.bench.common import write_json
    from engramdb.bench.timelines import TIMELINES, run

    report = run(background=background)
    data = {"timelines": len(TIMELINES), "background": background, **report.to_dict()}
    write_json(out_dir, "timelines.json", data)
    click.echo(f"{report.passed} of {len(report.outcomes)} checks hold over {len(TIMELINES)} timelines")
    for failure in data["failed"]:
        click.echo(f"  FAILED {failure['timeline']}: {failure['check']} (got {failure['got']})")


@bench.command("facts-llm")
@click.argument("locomo", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                default=DEFAULT_DATA / "locomo" / "locomo_dev.json")
@click.option("--turns", type=click.IntRange(1), default=100, show_default=True, help="The file's first N turns.")
@click.option("--stub", "stubs", default="empty,simple", show_default=True,
              help="Stub answers, comma-separated: empty (no fact) and/or simple (a fact per user turn).")
@click.option("--batch", type=click.IntRange(1), default=64, show_default=True, help="Jobs per claimed batch.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines.")
def facts_llm(locomo: Path, turns: int, stubs: str, batch: int, as_json: bool) -> None:
    """LLM calls and tokens of fact extraction + reconciliation per N turns (a stub LLM server)."""
    from engramdb.bench.facts_llm import RESPONDERS, run_facts_llm
    from engramdb.cli.output import emit_json, print_kv, want_json

    chosen = [s.strip() for s in stubs.split(",") if s.strip()]
    if not chosen or any(s not in RESPONDERS for s in chosen):
        raise click.BadParameter(f"use some of {', '.join(RESPONDERS)}", param_hint="--stub")
    results = [run_facts_llm(locomo, turns=turns, stub=s, batch=batch) for s in chosen]
    if want_json(as_json):
        emit_json(results)
        return
    for r in results:
        stages = ", ".join(f"{k}: {v['calls']} calls {v['prompt_tokens']}+{v['completion_tokens']} tok"
                           for k, v in r["by_stage"].items())
        print_kv({"stub": r["stub"], "turns": r["turns"], "sessions": r["sessions"], "facts": r["facts"],
                  "calls": r["calls"], "prompt tokens": r["prompt_tokens"],
                  "completion tokens": r["completion_tokens"], "by stage": stages, "failed jobs": r["failed_jobs"]})


from engramdb.cli.bench_scale import ann, scale  # noqa: E402 (the scale benches live in their own module)

bench.add_command(scale)
bench.add_command(ann)
