"""The retrieval pipeline behind Memory.search.

candidates (BM25 and dense, over turns and over episode windows; each list
with its own recall; dated questions add the best candidates inside their
date window) -> a list of the candidates' best sentence-key cosines -> score
fusion -> [session boost -> temporal neighbours: options, off by default] ->
speaker and time focus -> fetch in rank order -> pack into the token budget
-> chronological, grouped context. Every step works on the live
index, so adding a turn never re-indexes anything.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from engramdb.core.bounds import check_utf8
from engramdb.core.embedcheck import checked_vector
from engramdb.core.errors import EmbedderError, ValidationError
from engramdb.core.models import Hit, SearchResult
from engramdb.core.ports import Embedder, Facets, ReadSpec, Scored, Store, Vector
from engramdb.retrieval.budget import assemble, line_tokens, pack
from engramdb.retrieval.expand import Scores, neighbours, role_focus, session_boost, speaker_focus, without_names
from engramdb.retrieval.fusion import normalised_sum, rrf
from engramdb.retrieval.links import follow_links
from engramdb.retrieval.recency import knowledge_update
from engramdb.retrieval.retention import retention_focus
from engramdb.retrieval.temporal import Window, parse_window, time_focus, window_spec
from engramdb.retrieval.terms import query_terms

DEFAULT_K = 10
FETCH_CHUNK = 40
MAX_QUERY_CHARS = 10_000


@dataclass(frozen=True, slots=True)
class SearchParams:
    """Tunables of the pipeline (defaults chosen by `engram bench`)."""

    candidates: int = 100  # per candidate list, before fusion
    fusion: str = "score"  # "score" (normalised weighted sum) or "rrf"
    bm25_weight: float = 1.0
    dense_weight: float = 0.3
    window_weight: float = 1.0  # BM25 over episode windows (turn + 4 before); 0 turns it off
    dense_window_weight: float = 1.0  # cosine of episode-window centroids (turn + 2 before); 0: off
    sentence_weight: float = 0.5  # best cosine among a memory's whole text and its sentences; 0: off
    speaker_weight: float = 0.5  # 0 turns the speaker focus off
    role_weight: float = 0.5  # first-person questions prefer the user's turns; 0 turns it off
    time_weight: float = 0.5  # 0 turns the time focus off
    time_candidates: int = 30  # per list, extra candidates from inside a query's date window
    update_weight: float = 0.1  # present-tense questions prefer the newest of near-duplicate answers; 0: off
    update_top: int = 20  # candidates grouped by the knowledge-update re-scorer
    update_similarity: float = 0.5  # cosine of two answering sentences that say the same thing
    retention_weight: float = 0.0  # forgotten memories (retention R near 0) rank lower; off: BENCHMARKS.md
    dense_without_names: bool = True  # embed the question without the names of candidate speakers
    session_weight: float = 0.0  # session boost; off: episode windows do its job better (ablation)
    session_top: int = 30  # candidates whose scores make up a session's mass
    neighbour_top: int = 0  # hits whose neighbours come along; off: windows subsume it (ablation)
    neighbour_width: int = 2
    neighbour_decay: float = 0.85
    link_weight: float = 0.0  # memories sharing a rare entity with a top hit, at this share of its score; 0: off
    link_top: int = 10  # top candidates whose entities are followed


def search(
    store: Store,
    embedder: Embedder,
    query: str,
    spec: ReadSpec,
    *,
    k: int | None = None,
    budget_tokens: int | None = None,
    params: SearchParams = SearchParams(),
    now: datetime | None = None,
) -> SearchResult:
    """``now`` anchors relative time in the query ("last week"); default: the current time."""
    _check(query, k, budget_tokens)
    if k is None and budget_tokens is None:
        k = DEFAULT_K
    limit = max(params.candidates, k or 0)
    terms = query_terms(query)
    keyword = store.text_search(spec, terms, limit)
    dense_query = query
    known: dict[int, Facets] = {}  # facets fetched once, reused by the expansions
    if params.dense_without_names:
        # every turn a person says carries their name in the index; in the dense query the name
        # only pulls towards all of that person's turns (the speaker focus handles persons)
        known = store.facets([s.ref for s in keyword])
        dense_query = without_names(query, {f.speaker for f in known.values() if f.speaker})
    # the keyword windows run beside the query's embedding and the dense lists (on 2 cores,
    # most of each side runs outside the GIL: SQLite, BLAS, the ANN walk, numpy gathers)
    windows = _POOL.submit(store.window_search, spec, terms, limit) if params.window_weight > 0 else None
    vector, failure = _query_vector(embedder, dense_query)
    model = embedder.model_id
    lists = {"bm25": keyword, "dense": [] if vector is None else store.vector_search(spec, vector, model, limit)}
    near = store.window_vector_search(spec, vector, model, limit) \
        if params.dense_window_weight > 0 and vector is not None else None
    if windows is not None:
        lists["window"] = windows.result()
    if near is not None:
        lists["dense_window"] = near
    window = parse_window(query, now or spec.as_of or datetime.now(UTC)) if params.time_weight > 0 else None
    inside = window_spec(spec, window) if window is not None and params.time_candidates > 0 else None
    if inside is not None:
        # a dated question also gets the best candidates from inside its date window, which
        # a global top-k can miss when the words alone do not single them out
        lists["bm25"] = _merge(lists["bm25"], store.text_search(inside, terms, params.time_candidates))
        if vector is not None:
            lists["dense"] = _merge(lists["dense"], store.vector_search(inside, vector, model, params.time_candidates))
    if params.sentence_weight > 0 and vector is not None:
        # sentence keys re-score the candidates found so far (scanning every key of the scope
        # found nothing more on LoCoMo, for 2-3x the vectors in memory)
        found = sorted({item.ref for ranked in lists.values() for item in ranked})
        lists["sentence"] = store.key_search(spec, found, vector, model)[:limit]
    fused = _rank(store, spec, query, window, lists, params, known, vector, model)
    if k is not None:
        fused = fused[:k]
    pool = _hits(store, spec, fused, budget_tokens)
    chosen = pack(pool, budget_tokens)
    context, tokens, ordered = assemble(chosen, budget_tokens)
    kept = {id(h) for h in ordered}
    hits = pool if k is not None else [h for h in chosen if id(h) in kept]
    if failure is not None:
        warnings: tuple[str, ...] = (f"the embedder failed on the query ({failure}): these results are keyword-only "
                                     "(BM25 over turns and episode windows)",)
    else:
        warnings = _model_warnings(store, spec, model) if not lists["dense"] else ()
    return SearchResult(query, tuple(hits), context, tokens, tuple(ordered), budget_tokens, warnings)


_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="engram-search")


def _query_vector(embedder: Embedder, text: str) -> tuple[Vector | None, EmbedderError | None]:
    """The query's vector; or, when the embedder fails (an endpoint down, a bad answer), none and
    the error: a search then still answers from the keyword lists, and says so in its warnings,
    rather than leaving the agent without memory."""
    try:
        return checked_vector(embedder.embed_query(text), embedder.dim, embedder.model_id), None
    except EmbedderError as exc:
        return None, exc


def _model_warnings(store: Store, spec: ReadSpec, model_id: str) -> tuple[str, ...]:
    """No dense candidate at all: say so when the scope's vectors come from another model."""
    others = {model: n for model, n in store.embed_models(spec).items() if model is not None and model != model_id}
    if not others:
        return ()
    named = ", ".join(f"{model} ({n} memories)" for model, n in sorted(others.items()))
    return (f"this scope's memories were embedded with {named}, not with the configured embedder {model_id}: "
            "semantic search found nothing and results are keyword-only; configure that embedder, or run "
            "`engram reindex` with this one",)


def _merge(ranked: list[Scored], extra: list[Scored]) -> list[Scored]:
    """One list, best first, with the extra candidates that are not in it yet."""
    seen = {item.ref for item in ranked}
    return sorted([*ranked, *(item for item in extra if item.ref not in seen)], key=lambda item: -item.score)


def _rank(store: Store, spec: ReadSpec, query: str, window: Window | None, lists: dict[str, list[Scored]],
          params: SearchParams, known: dict[int, Facets], vector: Vector | None,
          model: str) -> list[tuple[int, float, tuple[str, ...]]]:
    weights = {"bm25": params.bm25_weight, "dense": params.dense_weight, "window": params.window_weight,
               "dense_window": params.dense_window_weight, "sentence": params.sentence_weight}
    if params.fusion == "rrf":
        scores: Scores = {ref: (score, list(src)) for ref, score, src in rrf(lists, weights=weights)}
    else:
        scores = normalised_sum(lists, weights)
    needs_facets = (params.session_weight > 0 or params.speaker_weight > 0 or params.role_weight > 0
                    or window is not None or params.update_weight > 0)
    facets = {**known, **store.facets([ref for ref in scores if ref not in known])} if needs_facets else {}
    scores = session_boost(scores, facets, weight=params.session_weight, top=params.session_top)
    scores = neighbours(store, spec, scores, top=params.neighbour_top, width=params.neighbour_width,
                        decay=params.neighbour_decay)
    scores = follow_links(store, spec, query, scores, facets, weight=params.link_weight, top=params.link_top)
    if needs_facets:
        facets.update(store.facets([ref for ref in scores if ref not in facets]))
        scores = speaker_focus(query, scores, facets, weight=params.speaker_weight)
        scores = role_focus(query, scores, facets, weight=params.role_weight)
        scores = time_focus(window, scores, {r: f.event_time for r, f in facets.items()}, weight=params.time_weight)
        scores = knowledge_update(store, spec, query, scores, facets, vector, model, weight=params.update_weight,
                                  top=params.update_top, similarity=params.update_similarity)
    scores = retention_focus(store, spec, scores, weight=params.retention_weight)
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1][0], kv[0]))
    return [(ref, min(1.0, score), tuple(src)) for ref, (score, src) in ranked]


def _hits(store: Store, spec: ReadSpec, fused: list[tuple[int, float, tuple[str, ...]]],
          budget: int | None) -> list[Hit]:
    """Fetch records in rank order, in chunks, only as far as the budget can use them."""
    hits: list[Hit] = []
    used = 0
    for start in range(0, len(fused), FETCH_CHUNK):
        chunk = fused[start:start + FETCH_CHUNK]
        records = store.fetch([ref for ref, _, _ in chunk], spec)
        for ref, score, sources in chunk:
            rec = records.get(ref)
            if rec is not None:
                hit = Hit(rec, score, sources, line_tokens(rec))
                hits.append(hit)
                used += hit.tokens
        if budget is not None and used >= 2 * budget:
            break  # enough to fill the budget even after skipping lines that do not fit
    return hits


def _check(query: str, k: int | None, budget_tokens: int | None) -> None:
    if not isinstance(query, str) or not query.strip():
        raise ValidationError("query must be a non-empty string")
    if len(query) > MAX_QUERY_CHARS:
        raise ValidationError(f"query is longer than {MAX_QUERY_CHARS} characters")
    check_utf8(query, "query")  # a lone surrogate (non-UTF-8 argv) breaks the tokenizer
    if k is not None and (not isinstance(k, int) or isinstance(k, bool) or k < 1 or k > 10_000):
        raise ValidationError("k must be an integer from 1 to 10000")
    if budget_tokens is not None and (
        not isinstance(budget_tokens, int) or isinstance(budget_tokens, bool) or budget_tokens < 1
    ):
        raise ValidationError("budget_tokens must be a positive integer")
