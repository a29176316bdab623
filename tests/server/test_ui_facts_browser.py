"""The inspector's "Facts & profile" panel in a real headless Chromium against a real server with fact
extraction on: the profile's current value and its history, the facts with their validity (a
superseded one struck through, shown with "show superseded"), the profile at a past valid_at, a
fact opened in the memory panel, and another user's facts out of reach of a restricted key.

Screenshots go to $ENGRAM_SCREENSHOTS (default: the test's tmp_path), as in test_ui_browser.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.server.test_ui_browser import driver, shots  # noqa: F401 (fixtures)
from tests.support.http_api import issue
from tests.support.server import live_server


def test_facts_and_profile_panel(tmp_path: Path, driver: Any, shots: Callable[[Any, str], None]) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    db = tmp_path / "memory.db"
    _, admin = issue(db)
    _, sam_key = issue(db, users=["sam"])

    def wait(condition: Callable[[Any], Any], timeout: float = 20) -> Any:
        return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)

    def by_id(element_id: str) -> Any:
        return driver.find_element(By.ID, element_id)

    def fill(element_id: str, value: str) -> None:
        field = by_id(element_id)
        field.clear()
        field.send_keys(value)

    def status_shows(state: str, text: str) -> Callable[[Any], bool]:
        def check(_: Any) -> bool:
            line = by_id("status-line")
            return bool(line.get_attribute("data-state") == state and text in line.text)
        return check

    def rows() -> list[Any]:
        return list(driver.find_elements(By.CSS_SELECTOR, "[data-testid=fact-row]"))

    with live_server(db, facts=True) as server:
        with server.client(admin) as http:
            for text, when in (("I live in Lisbon", "2023-01-10T09:00:00Z"), ("I work at Acme", "2023-02-01T09:00:00Z"),
                               ("I moved to Berlin", "2024-03-01T09:00:00Z")):
                assert http.post("/v1/memories", json={"messages": text, "user_id": "sam", "timestamp": when,
                                                       "role": "user"}).status_code == 201
            assert http.post("/v1/memories", json={"messages": "I live in Oslo", "user_id": "eve"}).status_code == 201
            report = http.post("/v1/flush", json={"timeout": 60}).json()
            assert report["remaining"] == 0 and report["failed"] == 0, report

        driver.get(f"{server.url}/ui/")
        wait(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
        fill("api-key", sam_key)
        by_id("save-key").click()
        wait(status_shows("ok", "Key kept"))

        # Another user's facts: 403 for this key, nothing shown.
        fill("scope-user", "eve")
        by_id("facts-load").click()
        wait(status_shows("error", "403 forbidden"))
        assert "Oslo" not in driver.page_source

        # The profile now: Berlin current, Lisbon in its history, struck through, with its validity.
        fill("scope-user", "sam")
        by_id("facts-load").click()
        wait(status_shows("ok", "Profile:"))
        home = driver.find_element(By.CSS_SELECTOR, "[data-testid=profile-slot][data-attribute='home city']")
        assert home.find_element(By.CSS_SELECTOR, "[data-testid=slot-current]").text == "Berlin"
        history = home.find_elements(By.CSS_SELECTOR, "[data-testid=slot-history] li")
        assert [h.text for h in history] == ["Lisbon 2023-01-10 → 2024-03-01", "Berlin 2024-03-01 → now"]
        old = history[0].find_element(By.CSS_SELECTOR, "button")
        assert "line-through" in old.value_of_css_property("text-decoration")
        assert "line-through" not in history[1].find_element(By.CSS_SELECTOR, "button").value_of_css_property(
            "text-decoration")
        assert "The user lives in Berlin" in by_id("profile-text").text
        assert sorted(r.find_elements(By.CSS_SELECTOR, "td")[2].text for r in rows()) == [
            "The user lives in Berlin", "The user works at Acme"]
        shots(driver, "facts-profile-now")

        # Show superseded: Lisbon's fact, struck through, with valid_to and its successor.
        by_id("facts-superseded").click()
        wait(lambda d: len(rows()) == 3)
        lisbon = next(r for r in rows() if "Lisbon" in r.text)
        berlin = next(r for r in rows() if "Berlin" in r.text)
        assert "superseded" in lisbon.get_attribute("class").split()
        assert "line-through" in lisbon.find_element(By.CSS_SELECTOR, "td").value_of_css_property("text-decoration")
        assert "2023-01-10 → 2024-03-01" in lisbon.text and berlin.get_attribute("data-id") in lisbon.text
        assert "superseded" not in berlin.get_attribute("class").split()
        driver.execute_script("arguments[0].scrollIntoView()", by_id("facts-panel"))
        shots(driver, "facts-superseded")

        # What held on 2023-06-01: Lisbon, not struck through then.
        by_id("facts-superseded").click()
        fill("facts-valid-at", "2023-06-01")
        by_id("facts-load").click()
        wait(status_shows("ok", "Profile at 2023-06-01"))
        home = driver.find_element(By.CSS_SELECTOR, "[data-testid=profile-slot][data-attribute='home city']")
        assert home.find_element(By.CSS_SELECTOR, "[data-testid=slot-current]").text == "Lisbon"
        lisbon = next(r for r in rows() if "Lisbon" in r.text)
        assert "superseded" not in lisbon.get_attribute("class").split()
        assert not [r for r in rows() if "Berlin" in r.text]
        shots(driver, "facts-valid-at")

        # A bad time: the envelope in the status line.
        fill("facts-valid-at", "not a time")
        by_id("facts-load").click()
        wait(status_shows("error", "400 invalid_input"))

        # Clicking a fact opens it in the memory panel (its fields and history).
        fill("facts-valid-at", "")
        by_id("facts-load").click()
        wait(status_shows("ok", "Profile:"))
        fact = next(r for r in rows() if "Acme" in r.text)
        fact_id = fact.get_attribute("data-id")
        fact.find_element(By.CSS_SELECTOR, "[data-testid=fact-open]").click()
        wait(lambda d: by_id("memory-panel").is_displayed() and by_id("memory-id").text == fact_id)
        assert driver.find_element(By.CSS_SELECTOR, "[data-field=kind]").text == "fact"
        assert by_id("memory-content").get_attribute("value") == "The user works at Acme"
        shots(driver, "fact-opened")
        assert "Oslo" not in driver.page_source
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "401" not in e["message"]
                  and "403" not in e["message"] and "400" not in e["message"]]
        assert not errors, errors
