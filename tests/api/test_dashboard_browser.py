"""The risk desk in a real headless Chromium (Debian ``chromium`` + ``chromium-driver``, driven by
Selenium) against the real in-process server with the risk services on, at 1280 × 900: log in (an
admin needs a TOTP code), a reload keeps the session, the victim's position on the accounts table
(with the engine's liquidation price) and on the liquidation map, its liquidation after a mark
crash (gone from the map, on the live feed), a stress test, approving, refused and denied payouts,
the stale state when the network drops. Screenshots of every view go to
``tests/artifacts/dashboard/`` (git-ignored) for a reviewer. Never skipped: ``make test`` installs
the browser first."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path

import ccxt
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from derivatives import _core
from derivatives.commands import Deposit, PlaceOrder
from derivatives.enums import Side, TimeInForce
from tests.api.conftest import (
    BTC,
    ccxt_config,
    execute,
    make_database,
    make_trader,
    publish_marks,
    serve,
)
from tests.api.server import RunningServer
from tests.api.staff import StaffUser, current_code, make_staff, session
from tests.api.test_liquidation import mark, open_victim

WAIT_S = 15
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "dashboard"


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
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def wait_for(browser: webdriver.Chrome, css: str) -> WebElement:
    element: WebElement = WebDriverWait(browser, WAIT_S).until(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))
    return element


def wait_text(browser: webdriver.Chrome, css: str, text: str) -> None:
    WebDriverWait(browser, WAIT_S).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))


def shoot(browser: webdriver.Chrome, name: str) -> None:
    assert browser.save_screenshot(str(SHOTS / f"{name}.png"))


def log_in(browser: webdriver.Chrome, server: RunningServer, user: StaffUser, code: str = "") -> None:
    browser.get(f"{server.base}/dashboard")
    browser.execute_script("sessionStorage.clear()")
    browser.get(f"{server.base}/dashboard")
    wait_for(browser, "#username").send_keys(user.name)
    browser.find_element(By.ID, "password").send_keys(user.password)
    browser.find_element(By.ID, "totp").send_keys(code)
    browser.find_element(By.ID, "login").click()


def tab(browser: webdriver.Chrome, name: str) -> None:
    wait_for(browser, f'nav button[data-tab="{name}"]').click()


def test_admin_logs_in_with_a_totp_code_only_and_a_reload_keeps_the_session(
        browser: webdriver.Chrome, desk_server: RunningServer) -> None:
    boss = make_staff(desk_server, "admin")
    log_in(browser, desk_server, boss)
    wait_text(browser, "#message", "one-time code")
    assert not browser.find_element(By.ID, "desk").is_displayed()
    shoot(browser, "01-login-refused")
    log_in(browser, desk_server, boss, current_code(boss.totp_secret or ""))
    assert wait_for(browser, "#role").text == "admin"
    browser.refresh()
    assert wait_for(browser, "#role").text == "admin", "a reload keeps the session"
    wait_text(browser, "#feed-state", "connected")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1280, "fits 1280 px"
    shoot(browser, "02-overview")


def test_liquidation_on_the_accounts_table_the_map_and_the_feed(browser: webdriver.Chrome,
                                                                desk_server: RunningServer) -> None:
    maker = ccxt.binanceusdm(ccxt_config(desk_server, make_trader(desk_server)))
    victim, _ = open_victim(desk_server, maker)
    log_in(browser, desk_server, make_staff(desk_server, "risk"))
    wait_text(browser, "#feed-state", "connected")

    tab(browser, "accounts")
    victim_row = f'#nearest tr[data-account="{victim.account}"]'
    wait_text(browser, victim_row, "49221.9")
    cells = browser.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map((td) => td.textContent)", f"{victim_row} td")
    assert cells[0] == victim.name and cells[2:7] == ["BTCUSDT", "LONG", "0.100", "100", "cross"]
    browser.find_element(By.CSS_SELECTOR, victim_row).click()
    wait_text(browser, "#drill-title", str(victim.account))
    wait_text(browser, "#drill-positions", "49221.9")
    shoot(browser, "03-accounts-drill-down")
    assert_sortable(browser)

    tab(browser, "map")
    bucket = '#map-rows tr[data-price="49200.0"]'
    wait_text(browser, bucket, "4922.19")  # 0.1 × 49,221.9 in the 200-wide bucket of 49,200
    shoot(browser, "04-liquidation-map-before")

    browser.find_element(By.ID, "alert").click()  # the visible (and audible) alert option
    mark(desk_server, "49200")
    started = wait_for(browser, f'#feed-list li[data-account="{victim.account}"][data-type="LIQUIDATION_STARTED"]')
    assert "flash" in (started.get_attribute("class") or ""), "the alert flashes the liquidation"
    wait_for(browser, f'#feed-list li[data-account="{victim.account}"][data-type="LIQUIDATION_ORDER"]')
    WebDriverWait(browser, WAIT_S).until(ec.invisibility_of_element_located((By.CSS_SELECTOR, bucket)))
    shoot(browser, "05-liquidation-map-after-crash")
    tab(browser, "overview")
    assert_overview_charts(browser)
    shoot(browser, "06-overview-after-crash")


OVERVIEW_CHARTS = ("chart-fund", "chart-prices", "chart-funding", "chart-oi", "chart-liq-volume")


def assert_overview_charts(browser: webdriver.Chrome) -> None:
    """Each overview chart (fund, mark/index/venues, funding, open interest, liquidation volume) is
    drawn with at least one data point (Chart.js's own registry of the page's charts)."""
    script = """return arguments[0].map((id) => { const c = Chart.getChart(id);
        return c ? c.data.datasets.reduce((n, d) => n + d.data.length, 0) : -1; });"""

    def drawn(driver: webdriver.Chrome) -> bool:
        points: list[int] = driver.execute_script(script, list(OVERVIEW_CHARTS))
        return all(n > 0 for n in points)

    WebDriverWait(browser, WAIT_S).until(drawn, "every overview chart has data")


def assert_sortable(browser: webdriver.Chrome) -> None:
    """A click on the liquidation-price header sorts the table ascending, a second one descending."""
    header = browser.find_element(By.CSS_SELECTOR, '#nearest-table th[data-key="liquidationPrice"]')
    script = """return [...document.querySelectorAll("#nearest tr")].map((tr) => tr.children[9].textContent)"""
    for arrow in ("▲", "▼"):
        header.click()
        wait_text(browser, '#nearest-table th[data-key="liquidationPrice"]', arrow)
        prices = [D(text) for text in browser.execute_script(script) if text not in ("", "–")]
        assert prices == sorted(prices, reverse=arrow == "▼") and prices, prices


def test_stress_test_form_table_and_chart(browser: webdriver.Chrome, desk_server: RunningServer) -> None:
    mark(desk_server, "50000")
    maker = ccxt.binanceusdm(ccxt_config(desk_server, make_trader(desk_server)))
    victim, _ = open_victim(desk_server, maker)
    log_in(browser, desk_server, make_staff(desk_server, "risk"))
    wait_text(browser, "#feed-state", "connected")
    tab(browser, "stress")
    value = wait_for(browser, "#shock-value-0")
    value.clear()
    value.send_keys("-5")
    browser.find_element(By.ID, "stress-run").click()
    row = wait_for(browser, f'#stress-accounts tr[data-account="{victim.account}"]')
    assert victim.name in row.text and "yes" in row.text
    assert browser.find_element(By.CSS_SELECTOR, '#stress-totals dd[data-fact="Accounts liquidated"]').text != "0"
    shoot(browser, "07-stress-test")
    Select(browser.find_element(By.ID, "shock-mode-0")).select_by_value("price")
    value.clear()
    value.send_keys("1.05")
    browser.find_element(By.ID, "stress-run").click()
    wait_text(browser, "#message", "Stress test refused")


def test_payouts_approved_refused_and_denied(browser: webdriver.Chrome, desk_server: RunningServer) -> None:
    requester, second, third = (make_staff(desk_server, "risk") for _ in range(3))
    trader = make_trader(desk_server)
    with session(desk_server, requester) as client:
        paid = client.post("/risk/insurance/payouts",
                           json={"account": trader.account, "amount": "7.25", "memo": "<b>INC-9</b>"}).json()
        too_big = client.post("/risk/insurance/payouts",
                              json={"account": trader.account, "amount": "1000000", "memo": "INC-10"}).json()
        denied = client.post("/risk/insurance/payouts",
                             json={"account": trader.account, "amount": "3", "memo": "INC-11"}).json()

    def row(payout: dict[str, object]) -> str:
        return f'#payouts tr[data-id="{payout["id"]}"]'

    log_in(browser, desk_server, requester)
    tab(browser, "payouts")
    wait_for(browser, row(paid))
    assert "<b>INC-9</b>" in browser.find_element(By.CSS_SELECTOR, row(paid)).text, "memo shown as text, not HTML"
    assert "exceeds the fund" in browser.find_element(By.CSS_SELECTOR, row(too_big)).text
    browser.find_element(By.ID, f"approve-{paid['id']}").click()
    wait_text(browser, "#message", "Payout refused")

    for user in (second, third):
        browser.find_element(By.ID, "logout").click()
        log_in(browser, desk_server, user)
        tab(browser, "payouts")
        for payout in (paid, too_big):
            wait_for(browser, f"#approve-{payout['id']}").click()
            wait_text(browser, row(payout), user.name)
    wait_for(browser, f'{row(paid)}[data-status="PAID"]')
    wait_for(browser, f'{row(too_big)}[data-status="REFUSED"]')
    assert "INSURANCE_FLOOR_BREACHED" in browser.find_element(By.CSS_SELECTOR, row(too_big)).text
    Select(browser.find_element(By.ID, f"deny-reason-{denied['id']}")).select_by_value("DUPLICATE")
    browser.find_element(By.ID, f"deny-{denied['id']}").click()
    wait_for(browser, f'{row(denied)}[data-status="DENIED"]')
    assert "DUPLICATE" in browser.find_element(By.CSS_SELECTOR, row(denied)).text
    browser.find_element(By.CSS_SELECTOR, f"{row(paid)} td").click()
    wait_text(browser, "#trail", "PAID")
    shoot(browser, "08-payouts")
    with session(desk_server, requester) as client:
        final = client.get(f"/risk/insurance/payouts/{paid['id']}").json()
    assert final["status"] == "PAID" and final["approvals"] == [second.name, third.name]


def test_the_desk_shows_it_is_stale_while_the_network_is_down(browser: webdriver.Chrome,
                                                              desk_server: RunningServer) -> None:
    log_in(browser, desk_server, make_staff(desk_server, "risk"))
    wait_text(browser, "#feed-state", "connected")
    tab(browser, "adl")
    browser.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
    try:
        wait_for(browser, "#banner")
        shoot(browser, "09-stale")
    finally:
        browser.delete_network_conditions()
    WebDriverWait(browser, WAIT_S).until(ec.invisibility_of_element_located((By.ID, "banner")))
    shoot(browser, "10-adl-queue")


def test_the_fund_unwinders_steps_are_shown_with_their_reasons(browser: webdriver.Chrome,
                                                               desk_server: RunningServer) -> None:
    # The fund (topped up) buys 0.5 at the mark 50,000 from a maker, who then bids 1 at 49,800,
    # within the unwinder's 0.5 % cap (49,750): its next step sells a slice of 10,000 / 50,000 = 0.2.
    publish_marks(desk_server)
    maker = make_trader(desk_server, funds="10000000")
    execute(desk_server, Deposit(_core.INSURANCE_FUND, D(10_000)),
            PlaceOrder(maker.account, BTC, Side.SELL, D("0.5"), price=D(50000)),
            PlaceOrder(_core.INSURANCE_FUND, BTC, Side.BUY, D("0.5"), price=D(50000), time_in_force=TimeInForce.IOC),
            PlaceOrder(maker.account, BTC, Side.BUY, D(1), price=D(49800)))
    log_in(browser, desk_server, make_staff(desk_server, "risk"))
    wait_text(browser, "#feed-state", "connected")
    WebDriverWait(browser, 30).until(  # the unwinder steps every 10 s, the desk refreshes on its own
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#fund-unwinds"), "SLICE"))
    cells = browser.execute_script(
        "return [...document.querySelectorAll('#fund-unwinds tr:first-child td')].map((td) => td.textContent)")
    assert cells[1:4] == ["BTCUSDT", "SLICE", "SELL"] and cells[5] == "0.20000000"
    shoot(browser, "11-fund-unwinds")
