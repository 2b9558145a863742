"""A new admin's enrolment link in a real headless Chromium (the Selenium setup of
``test_dashboard_browser``) against the real in-process server: from the one-time link
``/dashboard#enrol=<token>`` to a logged-in desk (password chosen, TOTP secret shown once,
confirmed with a current code), and a used or expired link refused with a clear message.
Screenshots go to ``tests/artifacts/dashboard/``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from sqlalchemy import update

from derivatives.persistence.models import AdminEnrolment
from tests.api.conftest import ADMINS, admin, make_database, serve
from tests.api.server import RunningServer
from tests.api.staff import current_code
from tests.api.test_dashboard_browser import browser, shoot, wait_for, wait_text

__all__ = ["browser"]  # the module's Chromium fixture

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = serve(make_database("sqlite", tmp_path_factory.mktemp("enrol")))
    yield running
    running.stop()


def approved_link(server: RunningServer, name: str) -> tuple[int, str]:
    """The enrolment id and the one-time link of a new admin (requested by the bootstrap token,
    approved by ``alice``), as the approver hands it over."""
    with admin(server) as bootstrap, admin(server, ADMINS["alice"]) as alice:
        request = bootstrap.post("/admin/admins", json={"name": name}).json()
        approved = alice.post(f"/admin/admins/{request['id']}/approve").json()
    assert approved["link"] == f"/dashboard#enrol={approved['enrolmentToken']}"
    return int(request["id"]), str(approved["link"])


def choose_password(browser: webdriver.Chrome, server: RunningServer, link: str) -> None:
    browser.get(f"{server.base}/dashboard")
    browser.execute_script("sessionStorage.clear()")
    browser.get(f"{server.base}{link}")
    wait_for(browser, "#enrol-new-password").send_keys(PASSWORD)
    browser.find_element(By.ID, "enrol-repeat").send_keys(PASSWORD)
    browser.find_element(By.ID, "enrol-submit").click()


def test_an_enrolment_link_leads_to_a_logged_in_desk(browser: webdriver.Chrome, server: RunningServer) -> None:
    _, link = approved_link(server, "carol")
    browser.get(f"{server.base}/dashboard")
    browser.execute_script("sessionStorage.clear()")
    browser.get(f"{server.base}{link}")
    wait_for(browser, "#enrol-new-password").send_keys(PASSWORD)
    assert "enrol=" not in browser.current_url, "the token leaves the address bar"
    assert not browser.find_element(By.ID, "login-form").is_displayed()
    browser.find_element(By.ID, "enrol-repeat").send_keys(PASSWORD + "x")
    browser.find_element(By.ID, "enrol-submit").click()
    wait_text(browser, "#enrol-error", "The two passwords differ.")
    browser.find_element(By.ID, "enrol-new-password").send_keys(PASSWORD)
    browser.find_element(By.ID, "enrol-repeat").send_keys(PASSWORD)
    browser.find_element(By.ID, "enrol-submit").click()

    secret = wait_for(browser, "#enrol-secret").text
    uri = browser.find_element(By.ID, "enrol-uri")
    assert len(secret) == 32 and uri.text == uri.get_attribute("href")
    assert uri.text == (f"otpauth://totp/derivatives:carol?secret={secret}&issuer=derivatives"
                        "&algorithm=SHA1&digits=6&period=30")
    assert browser.find_element(By.ID, "enrol-name").text == "carol"
    shoot(browser, "11-enrolment-secret")
    browser.find_element(By.ID, "enrol-code").send_keys("000000" if current_code(secret) != "000000" else "111111")
    browser.find_element(By.ID, "enrol-login").click()
    wait_text(browser, "#enrol-error", "one-time code")
    browser.find_element(By.ID, "enrol-code").send_keys(current_code(secret))
    browser.find_element(By.ID, "enrol-login").click()

    assert wait_for(browser, "#role").text == "admin"
    assert browser.find_element(By.ID, "who").text == "carol"
    assert not browser.find_element(By.ID, "enrol").is_displayed()
    wait_text(browser, "#feed-state", "connected")
    shoot(browser, "12-enrolled-desk")
    token = browser.execute_script("return JSON.parse(sessionStorage.getItem('derivatives.desk.session')).token")
    me = httpx.get(f"{server.base}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert me.json() == {"name": "carol", "role": "admin"}


def test_a_used_or_expired_link_says_so(browser: webdriver.Chrome, server: RunningServer) -> None:
    _, used = approved_link(server, "dave")
    token = used.removeprefix("/dashboard#enrol=")
    assert httpx.post(f"{server.base}/api/v1/auth/enrol", json={"token": token, "password": PASSWORD},
                      timeout=10).status_code == 200
    choose_password(browser, server, used)
    wait_text(browser, "#enrol-error", "This enrolment link cannot be used (unknown, used or expired enrolment link)")
    assert not browser.find_element(By.ID, "enrol-password").is_displayed()
    assert not browser.find_element(By.ID, "enrol-confirm").is_displayed()
    shoot(browser, "13-enrolment-link-used")

    enrolment_id, expired = approved_link(server, "erin")
    with server.services.db.session() as session:
        session.execute(update(AdminEnrolment).where(AdminEnrolment.id == enrolment_id).values(expires_at=1))
    choose_password(browser, server, expired)
    wait_text(browser, "#enrol-error", "unknown, used or expired enrolment link")
    browser.find_element(By.ID, "enrol-to-login").click()
    assert wait_for(browser, "#login-form").is_displayed()
    assert Path(browser.current_url).name == "dashboard"
    with admin(server) as boss:
        requests = {r["name"]: r["status"] for r in boss.get("/admin/admins").json()}
    assert requests["erin"] == "APPROVED", "an expired link enrols nobody"
