"""Facts, their validity and the profile over HTTP (GET /v1/facts, GET /v1/profile; adds with a
slot or a TTL), against a real server with fact extraction on: results, grant
isolation (a key for sam never sees eve's facts), read-only keys, and the error envelope."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.http_api import assert_envelope, issue
from tests.support.server import LiveServer, live_server

SAM = [("I live in Lisbon", "2023-01-10T09:00:00Z"), ("I moved to Berlin", "2024-03-01T09:00:00Z"),
       ("I work at Acme", "2023-02-01T09:00:00Z")]
EVE = ("I work at Initech", "2023-05-05T09:00:00Z")


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    db = tmp_path / "memory.db"
    keys = {"admin": issue(db)[1], "sam": issue(db, users=["sam"])[1],
            "sam_ro": issue(db, users=["sam"], read_only=True)[1]}
    with live_server(db, facts=True) as live:
        with live.client(keys["admin"]) as http:
            for text, when in SAM:
                _add(http, text, user_id="sam", timestamp=when)
            _add(http, EVE[0], user_id="eve", timestamp=EVE[1])
            report = http.post("/v1/flush", json={"timeout": 60}).json()
            assert report["remaining"] == 0 and report["failed"] == 0, report
        yield live, keys


def _add(http: httpx.Client, text: str, **fields: Any) -> dict[str, Any]:
    response = http.post("/v1/memories", json={"messages": text, **fields})
    assert response.status_code == 201, response.text
    return dict(response.json()["memories"][0])


def _facts(http: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    response = http.get("/v1/facts", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["facts"])


def test_facts_their_validity_and_the_profile(keyed: tuple[LiveServer, dict[str, str]]) -> None:
    server, keys = keyed
    with server.client(keys["sam"]) as http:
        now = _facts(http, user_id="sam")
        assert sorted(f["content"] for f in now) == ["The user lives in Berlin", "The user works at Acme"]
        assert all(f["kind"] == "fact" and f["valid_to"] is None and f["superseded_by"] is None for f in now)
        every = _facts(http, user_id="sam", include_superseded="true")
        lisbon = next(f for f in every if f["metadata"]["value"] == "Lisbon")
        berlin = next(f for f in every if f["metadata"]["value"] == "Berlin")
        assert lisbon["valid_to"] == berlin["event_time"] and lisbon["superseded_by"] == berlin["id"]
        assert (lisbon["subject"], lisbon["attribute"]) == ("user", "home city")
        then = _facts(http, user_id="sam", valid_at="2023-06-01")
        assert sorted(f["content"] for f in then) == ["The user lives in Lisbon", "The user works at Acme"]
        assert [f["content"] for f in _facts(http, user_id="sam", attribute="home city")] == [
            "The user lives in Berlin"]
        assert _facts(http, user_id="sam", subject="Caroline") == []
        page = http.get("/v1/facts", params={"user_id": "sam", "include_superseded": "true", "limit": 2}).json()
        assert len(page["facts"]) == 2 and page["next_offset"] == 2

        profile = http.get("/v1/profile", params={"user_id": "sam"}).json()
        assert profile["user_id"] == "sam" and profile["subject"] == "user" and profile["valid_at"] is None
        home = next(s for s in profile["slots"] if s["attribute"] == "home city")
        assert [v["value"] for v in home["current"]] == ["Berlin"]
        assert [(v["value"], v["valid_to"]) for v in home["history"]] == [
            ("Lisbon", berlin["event_time"]), ("Berlin", None)]
        assert "Berlin" in profile["text"] and "Lisbon" not in profile["text"]
        past = http.get("/v1/profile", params={"user_id": "sam", "valid_at": "2023-06-01"}).json()
        assert past["valid_at"].startswith("2023-06-01")
        assert [v["value"] for s in past["slots"] if s["attribute"] == "home city" for v in s["current"]] == ["Lisbon"]


def test_add_with_a_slot_and_a_ttl(keyed: tuple[LiveServer, dict[str, str]]) -> None:
    server, keys = keyed
    with server.client(keys["sam"]) as http:
        tea = _add(http, "The user drinks tea", user_id="sam", kind="fact", subject="user", attribute="drink",
                   timestamp="2023-03-01T00:00:00Z")
        coffee = _add(http, "The user drinks coffee", user_id="sam", kind="fact", subject="user",
                      attribute="drink", timestamp="2024-04-01T00:00:00Z")
        assert (coffee["subject"], coffee["attribute"]) == ("user", "drink")
        assert http.post("/v1/flush", json={"user_id": "sam", "timeout": 60}).json()["remaining"] == 0
        chain = _facts(http, user_id="sam", attribute="drink", include_superseded="true")
        assert [(f["id"], f["superseded_by"]) for f in chain] == [(tea["id"], coffee["id"]), (coffee["id"], None)]
        drink = next(s for s in http.get("/v1/profile", params={"user_id": "sam"}).json()["slots"]
                     if s["attribute"] == "drink")
        assert [v["statement"] for v in drink["current"]] == ["The user drinks coffee"]

        brief = _add(http, "The gate code is 1234 today", user_id="sam", ttl=1)
        assert brief["expires_at"] is not None
        later = _add(http, "Call back on Monday", user_id="sam", expires_at="2999-01-01T00:00:00Z")
        assert later["expires_at"].startswith("2999-01-01")
        time.sleep(1.5)
        listed = [m["id"] for m in http.get("/v1/memories", params={"user_id": "sam"}).json()["memories"]]
        assert brief["id"] not in listed and later["id"] in listed


def test_grants_isolate_facts_and_profiles(keyed: tuple[LiveServer, dict[str, str]]) -> None:
    server, keys = keyed
    with server.client(keys["sam"]) as sam:
        for path in ("/v1/facts", "/v1/profile"):
            assert "Initech" not in sam.get(path, params={"user_id": "sam"}).text
            assert_envelope(sam.get(path, params={"user_id": "eve"}), 403)
            assert_envelope(sam.get(path), 403)  # a restricted key must name its user
            assert_envelope(sam.get(path, params={"agent_id": "bot"}), 403)
    with server.client(keys["sam_ro"]) as sam_ro:
        assert _facts(sam_ro, user_id="sam")
        assert sam_ro.get("/v1/profile", params={"user_id": "sam"}).status_code == 200
        assert_envelope(sam_ro.get("/v1/facts", params={"user_id": "eve"}), 403)
        assert_envelope(sam_ro.post("/v1/memories", json={"messages": "x", "user_id": "sam", "attribute": "a",
                                                          "subject": "user", "kind": "fact"}), 403)
    with server.client(keys["admin"]) as admin:
        assert [f["content"] for f in _facts(admin, user_id="eve")] == ["The user works at Initech"]
        assert_envelope(admin.get("/v1/facts"), 400)  # a read names a scope, whatever the key


def test_bad_input_is_an_envelope(keyed: tuple[LiveServer, dict[str, str]]) -> None:
    server, keys = keyed
    with server.client(keys["admin"]) as http:
        assert assert_envelope(http.get("/v1/facts", params={"user_id": "sam", "valid_at": "not a time"}),
                               400)["type"] == "invalid_input"
        assert_envelope(http.get("/v1/facts", params={"user_id": "sam", "as_of": "2024-01-01",
                                                      "include_superseded": "true"}), 400)
        assert_envelope(http.get("/v1/facts", params={"user_id": "sam", "limit": -1}), 422)
        assert_envelope(http.get("/v1/facts", params={"user_id": "sam", "attribute": ""}), 422)
        assert_envelope(http.get("/v1/profile"), 400)  # whose profile?
        assert_envelope(http.get("/v1/profile", params={"user_id": "sam", "valid_at": "yesterday-ish"}), 400)
        assert_envelope(http.get("/v1/profile", params={"user_id": "sam", "subject": ""}), 422)
        for bad in ({"ttl": -1}, {"ttl": "soon"}, {"ttl": True}, {"expires_at": "never"}, {"attribute": ""},
                    {"attribute": "a" * 201}):
            response = http.post("/v1/memories", json={"messages": "x", "user_id": "sam", **bad})
            assert_envelope(response)
            assert response.status_code in (400, 422), (bad, response.text)
