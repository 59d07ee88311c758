"""The dashboard in a real headless Chromium (Debian ``chromium`` + ``chromium-driver``,
driven by Selenium): log in, see a finding, approve a change as a second user, watch a run
finish live, and a viewer sees no buttons."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from serve_harness import PASSWORD, Server, quick_campaign

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402 - after the skip above
from selenium.webdriver.common.by import By  # noqa: E402 - after the skip above
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402 - after the skip above
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402 - after the skip above

pytestmark = [pytest.mark.lab, pytest.mark.slow]

DRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    if DRIVER is None:
        pytest.fail("chromedriver is missing: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def log_in(browser: WebDriver, server: Server, user: str) -> None:
    browser.delete_all_cookies()
    browser.get(f"{server.url}/login")
    browser.find_element(By.ID, "user").send_keys(user)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login").click()
    WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.ID, "me"))
    assert browser.find_element(By.ID, "me").text.startswith(user)


def test_two_people_approve_and_watch_a_run_finish(estate: Server, browser: WebDriver) -> None:
    campaign = quick_campaign("browser")
    with estate.client("carol") as carol:
        change = carol.post("/api/v1/changes", json={"campaign": campaign}).json()
    cid = change["id"]

    # carol requested it: her page has no approve button, and says why.
    log_in(browser, estate, "carol")
    browser.get(f"{estate.url}/changes/{cid}")
    assert not browser.find_elements(By.ID, "approve")
    assert "someone else must approve" in browser.find_element(By.ID, "own").text

    # bob sees the fleet's findings, then approves.
    log_in(browser, estate, "bob")
    browser.get(f"{estate.url}/findings?env=prod")
    rows = browser.find_elements(By.CSS_SELECTOR, "#findings tbody tr")
    assert rows and rows[0].find_elements(By.TAG_NAME, "td")[1].text == "prod"
    browser.get(f"{estate.url}/changes/{cid}")
    browser.find_element(By.ID, "comment").send_keys("reviewed in the browser")
    browser.find_element(By.ID, "approve").click()
    WebDriverWait(browser, 30).until(lambda b: b.find_element(By.ID, "state").text == "approved")
    assert "approved by bob" in browser.find_element(By.ID, "approvals").text

    # bob (an approver may also operate) starts it; the run's page follows it live.
    browser.find_element(By.ID, "run").click()
    WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.ID, "run-state"))
    WebDriverWait(browser, 180).until(
        lambda b: b.find_element(By.ID, "live-note").text == "(ended)"
    )
    assert browser.find_element(By.ID, "run-state").text == "completed"
    journal = browser.find_elements(By.CSS_SELECTOR, "#journal li")
    assert journal and any("succeeded" in li.text for li in journal)  # drawn from the events
    run_url = browser.current_url

    # vera, a viewer, sees the same pages without a single button that acts.
    log_in(browser, estate, "vera")
    browser.get(f"{estate.url}/changes/{cid}")
    assert not browser.find_elements(By.ID, "approve") and not browser.find_elements(By.ID, "run")
    browser.get(run_url)
    assert not browser.find_elements(By.ID, "pause") and not browser.find_elements(By.ID, "abort")
