"""Debian's Chromium driven by Playwright: the fixtures every browser test uses (registered
in tests/conftest.py)."""

import os
from pathlib import Path

import pytest
from django.conf import settings as django_settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="session")
def browser():
    """One Chromium a test process (a launch costs ~1.1 s of CPU); each test opens its own
    context. The browser tests run before the quick ones (tests/conftest.py)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls
    # (setup and checks, never concurrent with the browser's requests) are safe.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, settings):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.console_errors = []
    page.on(
        "console",
        lambda msg: msg.type == "error" and page.console_errors.append((msg.text, msg.location)),
    )
    yield page
    context.close()


@pytest.fixture
def admin_page(live_server, page, admin_user):
    """page, logged in to the admin as pytest-django's admin_user; page.admin_url is the
    admin's address."""
    page.admin_url = live_server.url + "/" + django_settings.ADMIN_URL
    page.goto(page.admin_url)
    page.get_by_label("Username").fill(admin_user.username)
    page.get_by_label("Password").fill("password")  # pytest-django's admin_user's
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(page.admin_url)
    return page
