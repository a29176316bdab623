"""The web inspector at /ui in a real headless Chromium (Debian's chromium + chromedriver) against a
real server: a key restricted to one user, search, browse, history, edit, delete, pipeline status.

Skips when the browser is not installed, unless ENGRAM_REQUIRE_BROWSER=1 (CI), where it fails.
Screenshots of each step go to $ENGRAM_SCREENSHOTS (default: the test's tmp_path)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.server import LiveServer, live_server

from engramdb.registry import keys_path
from engramdb.stores.sqlite_keys import KeyRing

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
EVE_SECRET = "vault code 4812 belongs to Eve"
XSS = '<img src=x onerror="window.__xss=1"> is not markup'


def _require_browser() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if not missing:
        return
    message = f"browser test needs {', '.join(missing)} (apt-get install chromium chromium-driver)"
    if os.environ.get("ENGRAM_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Any]:
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1440,1400", f"--user-data-dir={tmp_path / 'chrome-profile'}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture
def shots(tmp_path: Path) -> Callable[[Any, str], None]:
    folder = Path(os.environ.get("ENGRAM_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    count = [0]

    def take(browser: Any, name: str) -> None:
        count[0] += 1
        assert browser.save_screenshot(str(folder / f"{count[0]:02d}-{name}.png"))

    return take


def _seed(server: LiveServer, admin: str) -> None:
    with server.client(admin) as http:
        sam = [
            {"role": "user", "content": "I adopted a cat named Pimenta", "timestamp": "2024-06-21T08:33:00Z"},
            {"role": "assistant", "content": "Lovely name for an orange cat!", "timestamp": "2024-06-21T08:34:00Z"},
        ]
        assert http.post("/v1/memories", json={"messages": sam, "user_id": "sam", "session_id": "s1"}).is_success
        for i, text in enumerate(["I also have a dog named Rex", "My sister lives in Lisbon", XSS]):
            body = {"messages": text, "user_id": "sam", "session_id": "s2", "timestamp": f"2024-07-0{i + 1}T10:00:00Z"}
            assert http.post("/v1/memories", json=body).status_code == 201
        eve = {"messages": f"My cat is called Pimenta too; {EVE_SECRET}", "user_id": "eve"}
        assert http.post("/v1/memories", json=eve).status_code == 201
        assert http.post("/v1/flush", json={"timeout": 20}).json()["remaining"] == 0


def test_inspector_in_a_real_browser(tmp_path: Path, driver: Any, shots: Callable[[Any, str], None]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    db = tmp_path / "memory.db"
    ring = KeyRing(keys_path(db))
    _, admin = ring.create("default", name="admin")
    _, sam_key = ring.create("default", users=["sam"], name="sam only")
    ring.close()

    def wait(condition: Callable[[Any], Any], timeout: float = 15) -> Any:
        return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)

    def by_id(element_id: str) -> Any:
        return driver.find_element(By.ID, element_id)

    def status_shows(state: str, text: str) -> Callable[[Any], bool]:
        def check(_: Any) -> bool:
            line = by_id("status-line")
            return bool(line.get_attribute("data-state") == state and text in line.text)
        return check

    def fill(element_id: str, value: str) -> None:
        field = by_id(element_id)
        field.clear()
        field.send_keys(value)

    with live_server(db) as server:
        _seed(server, admin)

        # Without a key the server (which has keys) refuses: the envelope shows in the status line.
        driver.get(f"{server.url}/ui/")
        wait(status_shows("error", "401 unauthorized"))
        assert "needs an API key" in by_id("status-line").text
        shots(driver, "no-key")

        # The restricted key: another user is forbidden, its own user's scopes are listed.
        fill("api-key", sam_key)
        by_id("save-key").click()
        wait(status_shows("ok", "Key kept"))
        assert driver.execute_script("return sessionStorage.getItem('engram.key')") == sam_key
        fill("scope-user", "eve")
        fill("search-query", "cat")
        by_id("search-run").click()
        wait(status_shows("error", "403 forbidden"))
        shots(driver, "forbidden")
        fill("scope-user", "sam")
        by_id("scopes-by-session").click()
        by_id("load-scopes").click()
        wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "[data-testid=scope-item]")) == 2)
        items = driver.find_elements(By.CSS_SELECTOR, "[data-testid=scope-item]")
        assert all("user sam" in item.text for item in items)
        next(item for item in items if "session s1" in item.text).click()
        assert by_id("scope-session").get_attribute("value") == "s1"
        fill("scope-session", "")  # search the whole user

        # Search: the packed context, its tokens, ranked hits with scores and sources.
        fill("search-query", "what is my cat called?")
        fill("search-k", "5")
        fill("search-budget", "200")
        by_id("search-run").click()
        wait(lambda d: "Pimenta" in by_id("search-context").text)
        context = by_id("search-context").text
        assert "I adopted a cat named Pimenta" in context and "[2024-06-21" in context
        tokens = int(by_id("context-tokens").text)
        assert 0 < tokens <= 200
        hits = driver.find_elements(By.CSS_SELECTOR, "[data-testid=hit]")
        assert 1 <= len(hits) <= 5
        for hit in hits:
            assert re.fullmatch(r"[01]\.\d{3}", hit.find_element(By.CSS_SELECTOR, "[data-testid=hit-score]").text)
            assert hit.find_elements(By.CSS_SELECTOR, "[data-testid=hit-sources] .chip")
            assert hit.find_element(By.CSS_SELECTOR, "[data-testid=hit-packed]").text in ("packed", "not packed")
        assert "bm25" in hits[0].find_element(By.CSS_SELECTOR, "[data-testid=hit-sources]").text
        assert "Pimenta" in hits[0].text and hits[0].find_element(
            By.CSS_SELECTOR, "[data-testid=hit-packed]").text == "packed"
        assert EVE_SECRET not in driver.page_source
        shots(driver, "search")

        # Browse newest first, three per page, then the older page; content is text, never markup.
        Select(by_id("browse-order")).select_by_value("newest")
        fill("browse-limit", "3")
        by_id("browse-load").click()
        wait(lambda d: "of 5, newest first" in by_id("browse-page").text)
        rows = driver.find_elements(By.CSS_SELECTOR, "[data-testid=memory-row]")
        assert [r.find_element(By.CSS_SELECTOR, "td").text[:10] for r in rows] == ["2024-07-03", "2024-07-02",
                                                                                     "2024-07-01"]
        assert XSS in rows[0].text and driver.execute_script("return window.__xss") is None
        assert not driver.find_elements(By.CSS_SELECTOR, "#browse-list img")
        shots(driver, "browse-newest")
        by_id("browse-next").click()
        wait(lambda d: by_id("browse-page").text.startswith("1–2 of 5"))
        assert "Pimenta" in by_id("browse-list").text and EVE_SECRET not in driver.page_source
        assert by_id("browse-next").get_attribute("disabled") is not None
        shots(driver, "browse-older")

        # Open the top hit: fields and history; edit it: a new version, before / after in its history.
        hits[0].find_element(By.CSS_SELECTOR, "[data-testid=hit-open]").click()
        wait(lambda d: by_id("memory-panel").is_displayed()
             and len(d.find_elements(By.CSS_SELECTOR, "[data-testid=history-event]")) == 1)
        memory_id = by_id("memory-id").text
        assert driver.find_element(By.CSS_SELECTOR, "[data-field=version]").text == "1"
        assert driver.find_element(By.CSS_SELECTOR, "[data-field=scope]").text == "user sam · session s1"
        assert by_id("memory-content").get_attribute("value") == "I adopted a cat named Pimenta"
        fill("memory-content", "I adopted a cat named Pimenta; she is orange")
        by_id("memory-save").click()
        wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "[data-testid=history-event]")) == 2)
        update = driver.find_elements(By.CSS_SELECTOR, "[data-testid=history-event]")[1]
        assert update.get_attribute("data-action") == "update" and "v1 → v2" in update.text
        assert update.find_element(By.CSS_SELECTOR, "[data-testid=history-before]").text.endswith(
            "I adopted a cat named Pimenta")
        assert "she is orange" in update.find_element(By.CSS_SELECTOR, "[data-testid=history-after]").text
        assert driver.find_element(By.CSS_SELECTOR, "[data-field=version]").text == "2"
        wait(lambda d: "she is orange" in by_id("search-context").text)  # the search is run again
        shots(driver, "edited")
        with server.client(admin) as http:
            assert http.get(f"/v1/memories/{memory_id}", params={"user_id": "sam"}).json()["version"] == 2

        # Delete the dog memory from the newest page, through the confirm step.
        by_id("browse-prev").click()
        wait(lambda d: by_id("browse-page").text.startswith("3–5 of 5"))
        rex = next(r for r in driver.find_elements(By.CSS_SELECTOR, "[data-testid=memory-row]") if "Rex" in r.text)
        rex_id = rex.get_attribute("data-id")
        rex.find_element(By.CSS_SELECTOR, "[data-testid=row-open]").click()
        wait(lambda d: by_id("memory-id").text == rex_id)
        by_id("memory-delete").click()
        wait(lambda d: by_id("delete-confirm").is_displayed())
        shots(driver, "confirm-delete")
        by_id("delete-confirm-yes").click()
        wait(status_shows("ok", f"Deleted memory {rex_id}"))
        assert by_id("memory-gone").is_displayed()
        wait(lambda d: "of 4, newest first" in by_id("browse-page").text)
        assert not driver.find_elements(By.CSS_SELECTOR, f"[data-id='{rex_id}']")
        assert "Rex" not in by_id("browse-list").text
        assert driver.find_elements(By.CSS_SELECTOR, "[data-testid=history-event][data-action=delete]")
        shots(driver, "deleted")
        with server.client(admin) as http:
            gone = http.get(f"/v1/memories/{rex_id}", params={"user_id": "sam"})
            assert gone.status_code == 404 and gone.json()["error"]["type"] == "not_found"

        # The pipeline's queue, for this key's user.
        by_id("pipeline-refresh").click()
        wait(status_shows("ok", "Pipeline:"))
        stage = wait(lambda d: d.find_element(By.CSS_SELECTOR, "[data-testid=pipeline-stage][data-stage=embed]"))
        assert re.match(r"embed \d+ \d+ \d+", stage.text)
        assert "pending" in by_id("pipeline-summary").text and "oldest pending" in by_id("pipeline-summary").text
        assert EVE_SECRET not in driver.page_source
        shots(driver, "pipeline")
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "401" not in e["message"]
                  and "403" not in e["message"]]
        assert not errors, errors
