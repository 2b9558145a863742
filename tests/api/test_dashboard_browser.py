"""The risk-desk dashboard in a real headless Chromium (Debian ``chromium`` + ``chromium-driver``,
driven by Selenium) against the real in-process server with the risk services on: log in with the
form (an admin with a TOTP code, a risk user without), see the account nearest liquidation and its
liquidation appear live after a mark crash, and approve a payout as the second and third risk user
(the requester cannot). Never skipped: ``make test`` installs the browser first."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from decimal import Decimal as D

import ccxt
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from derivatives import _core
from derivatives.commands import Deposit
from tests.api.conftest import ccxt_config, execute, make_database, make_trader, serve
from tests.api.server import RunningServer
from tests.api.staff import StaffUser, current_code, make_staff, session
from tests.api.test_liquidation import mark, open_victim

WAIT_S = 15


@pytest.fixture(scope="module")
def desk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    db = make_database("sqlite", tmp_path_factory.mktemp("desk"))
    running = serve(db, risk_services=True)
    execute(running, Deposit(_core.INSURANCE_FUND, D(1000)))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    driver_path, chromium = shutil.which("chromedriver"), shutil.which("chromium")
    assert driver_path and chromium, "chromium and chromium-driver are missing: run `make test` (installs them)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


def wait_for(browser: webdriver.Chrome, css: str) -> WebElement:
    element: WebElement = WebDriverWait(browser, WAIT_S).until(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))
    return element


def log_in(browser: webdriver.Chrome, server: RunningServer, user: StaffUser, code: str = "") -> None:
    browser.get(f"{server.base}/dashboard")
    wait_for(browser, "#username").send_keys(user.name)
    browser.find_element(By.ID, "password").send_keys(user.password)
    browser.find_element(By.ID, "totp").send_keys(code)
    browser.find_element(By.ID, "login").click()


def test_admin_logs_in_with_a_totp_code_only(browser: webdriver.Chrome, desk_server: RunningServer) -> None:
    boss = make_staff(desk_server, "admin")
    log_in(browser, desk_server, boss)
    WebDriverWait(browser, WAIT_S).until(ec.text_to_be_present_in_element((By.ID, "message"), "one-time code"))
    assert not browser.find_element(By.ID, "desk").is_displayed()
    log_in(browser, desk_server, boss, current_code(boss.totp_secret or ""))
    assert wait_for(browser, "#role").text == "admin"


def test_liquidation_appears_live_after_a_mark_crash(browser: webdriver.Chrome, desk_server: RunningServer) -> None:
    maker = ccxt.binanceusdm(ccxt_config(desk_server, make_trader(desk_server)))
    victim, _ = open_victim(desk_server, maker)
    log_in(browser, desk_server, make_staff(desk_server, "risk"))
    assert wait_for(browser, "#role").text == "risk"
    WebDriverWait(browser, WAIT_S).until(ec.text_to_be_present_in_element((By.ID, "feed-state"), "connected"))

    mark(desk_server, "49260")
    near = (By.CSS_SELECTOR, f'#nearest tr[data-account="{victim.account}"]')
    WebDriverWait(browser, WAIT_S).until(ec.text_to_be_present_in_element(near, "83.85 %"))  # 19.704 / 23.5
    mark(desk_server, "49200")
    step = wait_for(browser, f'#liquidations tr[data-account="{victim.account}"][data-type="LIQUIDATION_STARTED"]')
    assert "LIQUIDATION_STARTED" in step.text


def test_payout_needs_two_other_risk_users(browser: webdriver.Chrome, desk_server: RunningServer) -> None:
    requester, second, third = (make_staff(desk_server, "risk") for _ in range(3))
    trader = make_trader(desk_server)
    with session(desk_server, requester) as client:
        payout = client.post("/risk/insurance/payouts",
                             json={"account": trader.account, "amount": "7.25", "memo": "<b>INC-9</b>"}).json()
    row = f'#payouts tr[data-id="{payout["id"]}"]'

    log_in(browser, desk_server, requester)
    wait_for(browser, row)
    assert "<b>INC-9</b>" in browser.find_element(By.CSS_SELECTOR, row).text, "memo shown as text, not HTML"
    browser.find_element(By.ID, f"approve-{payout['id']}").click()
    WebDriverWait(browser, WAIT_S).until(ec.text_to_be_present_in_element((By.ID, "message"), "Payout refused"))

    for user in (second, third):
        browser.find_element(By.ID, "logout").click()
        log_in(browser, desk_server, user)
        wait_for(browser, f"#approve-{payout['id']}").click()
    WebDriverWait(browser, WAIT_S).until(ec.invisibility_of_element_located((By.CSS_SELECTOR, row)))
    with session(desk_server, requester) as client:
        paid = client.get(f"/risk/insurance/payouts/{payout['id']}").json()
    assert paid["status"] == "PAID" and paid["approvals"] == [second.name, third.name]
