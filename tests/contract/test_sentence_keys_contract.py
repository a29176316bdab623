"""Sentence keys (Store.key_search): a memory is also scored by each of its sentences.

A record's stored vectors are its whole text's vector followed by one vector per
sentence key; the key search scores candidate records by the best of them. The suite
checks the scoring, that keys follow updates, supersede and deletes, scopes and
filters, and that identical texts reuse stored keys instead of re-embedding.
"""

from __future__ import annotations

import numpy as np

from engramdb.core.filters import parse_filters
from engramdb.core.models import Scope
from engramdb.core.ports import ReadSpec
from engramdb.embedders.hashing import HashEmbedder
from engramdb.engine.keys import sentence_keys

LONG = ("Taking care of ourselves is vital these days. I'm off to go swimming with the kids. "
        "Talk to you soon, have a lovely evening.")
SENTENCE = "I'm off to go swimming with the kids."


def key_scores(m, spec, query, refs=range(1, 200)):
    vector = m.embedder.embed_query(query)
    scored = m.store.key_search(spec, list(refs), vector, m.embedder.model_id)
    assert [s.score for s in scored] == sorted((s.score for s in scored), reverse=True)
    return {s.ref: s.score for s in scored}


def whole_scores(m, spec, query):
    vector = m.embedder.embed_query(query)
    return {s.ref: s.score for s in m.store.vector_search(spec, vector, m.embedder.model_id, 20)}


def ref_of(m, spec, content):
    return next(ref for ref, rec in m.store.fetch(list(range(1, 200)), spec).items() if rec.content == content)


def two_turns(memory_factory):
    """A long turn and a one-sentence turn; the memory, its read spec and the long turn's ref."""
    m = memory_factory()
    m.add([{"role": "user", "content": LONG}, {"role": "user", "content": "Short single sentence here."}],
          user_id="u", session_id="s")
    spec = ReadSpec(Scope(user_id="u"))
    return m, spec, ref_of(m, spec, LONG)


def test_a_record_scores_its_best_key(memory_factory):
    m, spec, ref = two_turns(memory_factory)
    keys, whole = key_scores(m, spec, SENTENCE), whole_scores(m, spec, SENTENCE)
    assert keys[ref] > whole[ref]
    assert np.isclose(keys[ref], 1.0, atol=1e-5)  # the hash embedder embeds the sentence identically
    single = ref_of(m, spec, "Short single sentence here.")
    assert np.isclose(keys[single], whole[single])  # no keys: its whole-text cosine


def test_stored_vectors_are_whole_text_then_keys(memory_factory):
    m = memory_factory()
    [rec] = m.add(LONG, user_id="u")
    stored = m.store.vectors_for_hashes([rec.index_hash], m.embedder.model_id, m.embedder.dim).get(rec.index_hash)
    expected = HashEmbedder().embed_documents([rec.index_text, *sentence_keys(LONG)])
    assert stored is not None and stored.shape == (1 + len(sentence_keys(LONG)), m.embedder.dim)
    assert np.allclose(stored, expected)


def test_keys_follow_update_supersede_and_delete(memory_factory):
    m = memory_factory()
    [a] = m.add(LONG, user_id="u")
    [b] = m.add("Another memory. It mentions gardening and tomatoes in the backyard.", user_id="u")
    spec = ReadSpec(Scope(user_id="u"))
    m.update(a.id, content="We stayed at home all day. The kids played board games all afternoon long.")
    assert all(m.store.fetch([r], spec)[r].content != LONG for r in key_scores(m, spec, SENTENCE))
    best = max(key_scores(m, spec, "The kids played board games all afternoon long.").values())
    assert np.isclose(best, 1.0, atol=1e-5)
    new = m.supersede(b.id, "Gardening is over. Now I mostly read novels in the evening.")
    found = {m.store.fetch([r], spec)[r].id for r in key_scores(m, spec, "It mentions gardening and tomatoes.")}
    assert b.id not in found and new.id in found
    m.delete(new.id)
    assert new.id not in {m.store.fetch([r], spec)[r].id for r in key_scores(m, spec, "read novels")}


def test_keys_respect_scope_and_filters(memory_factory):
    m = memory_factory()
    m.add(LONG, user_id="alice", metadata={"topic": "family"})
    m.add(LONG + " Also tennis.", user_id="alice", metadata={"topic": "sport"})
    m.add(LONG, user_id="bob")
    spec = ReadSpec(Scope(user_id="alice"), filters=parse_filters({"topic": "sport"}))
    found = key_scores(m, spec, SENTENCE)
    records = m.store.fetch(list(found), spec)
    assert len(found) == 1 and all(r.scope.user_id == "alice" and r.metadata["topic"] == "sport"
                                   for r in records.values())


def test_identical_text_reuses_stored_keys(memory_factory):
    m = memory_factory()
    calls: list[int] = []
    # the background worker embeds with an instance of its own (one compute thread)
    writer = m._worker_embedder() if m.background else m.embedder
    embed = writer.embed_documents

    def counting(texts):
        calls.append(len(texts))
        return embed(texts)

    writer.embed_documents = counting  # type: ignore[method-assign]
    m.add(LONG, user_id="u")
    m.add(LONG, user_id="v")
    assert calls == [1 + len(sentence_keys(LONG))]
    spec = ReadSpec(Scope(user_id="v"))
    assert np.isclose(max(key_scores(m, spec, SENTENCE).values()), 1.0, atol=1e-5)


def test_only_the_given_candidates_are_scored(memory_factory):
    m, spec, ref = two_turns(memory_factory)
    assert set(key_scores(m, spec, SENTENCE, refs=[ref, 10_000])) == {ref}
    assert key_scores(m, spec, SENTENCE, refs=[]) == {}


def test_as_of_reads_score_the_version_of_that_time(memory_factory):
    import time
    from datetime import UTC, datetime

    m = memory_factory()
    [rec] = m.add(LONG, user_id="u")
    time.sleep(0.01)
    before = datetime.now(UTC)
    time.sleep(0.01)
    m.update(rec.id, content="We stayed at home all day. The kids played board games all afternoon long.")
    past = ReadSpec(Scope(user_id="u"), as_of=before)
    found = key_scores(m, past, SENTENCE)
    assert len(found) == 1 and np.isclose(max(found.values()), 1.0, atol=1e-5)
    assert m.store.fetch(list(found), past)[next(iter(found))].content == LONG


def test_sentence_keys_can_be_turned_off(store_factory):
    from engramdb import Memory

    with Memory(store=store_factory("nokeys"), embedder="hash", sentence_keys=False, background=False) as m:
        [rec] = m.add(LONG, user_id="u")
        stored = m.store.vectors_for_hashes([rec.index_hash], m.embedder.model_id, m.embedder.dim).get(rec.index_hash)
        assert stored is not None and stored.shape == (1, m.embedder.dim)
        spec = ReadSpec(Scope(user_id="u"))
        assert key_scores(m, spec, SENTENCE) == whole_scores(m, spec, SENTENCE)


def test_reindex_adds_keys_to_memories_written_without_them(store_factory):
    from engramdb import Memory

    store = store_factory("reindex")
    old = Memory(store=store, embedder="hash", sentence_keys=False, background=False)
    [rec] = old.add(LONG, user_id="u")
    old.add("One sentence only here.", user_id="u")
    old.add(LONG, user_id="other")
    spec = ReadSpec(Scope(user_id="u"))
    assert old.store.vectors_for_hashes([rec.index_hash], "hash-256", 256)[rec.index_hash].shape[0] == 1
    new = Memory(store=store, embedder="hash", background=False)
    before = [r.to_dict() for r in new.list(user_id="u")]
    progress: list[int] = []
    assert new.reindex(user_id="u", on_batch=progress.append) == 2
    assert progress == [2]
    assert np.isclose(key_scores(new, spec, SENTENCE)[ref_of(new, spec, LONG)], 1.0, atol=1e-5)
    assert [r.to_dict() for r in new.list(user_id="u")] == before  # content, versions, times untouched
    assert [e.action.value for e in new.history(rec.id)] == ["add"]  # vectors are not a new version
    other = ReadSpec(Scope(user_id="other"))
    assert max(key_scores(new, other, SENTENCE).values()) < 0.999  # another scope is left alone
    new.close()


def test_reindex_after_changing_the_embedder_makes_memories_searchable_again(tmp_path):
    from engramdb import Memory
    from engramdb.embedders.hashing import HashEmbedder

    with Memory(tmp_path / "m.db", embedder=HashEmbedder(dim=64), background=False) as m:
        m.add(LONG, user_id="u")
    with Memory(tmp_path / "m.db", embedder="hash", background=False) as m:
        assert m.search("swimming with the kids", user_id="u", k=5).hits == () or all(
            "dense" not in h.sources for h in m.search("swimming with the kids", user_id="u", k=5).hits)
        assert m.reindex(user_id="u") == 1
        hits = m.search("swimming with the kids", user_id="u", k=5).hits
        assert hits and "dense" in hits[0].sources
