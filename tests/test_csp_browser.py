"""The Content-Security-Policy in a real browser: the admin and the error pages work under it
(Chromium reports every blocked script or style on the console)."""

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model

from tests.test_browser import browser, page  # noqa: F401  (Chromium fixtures)

pytestmark = pytest.mark.browser


def test_admin_works_under_the_csp(live_server, page, settings):  # noqa: F811
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    get_user_model().objects.create_superuser("boss", "boss@example.org", "right-pass")
    admin = live_server.url + "/" + django_settings.ADMIN_URL
    page.goto(admin)
    page.get_by_label("Username").fill("boss")
    page.get_by_label("Password").fill("right-pass")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(admin)

    page.goto(admin + "blog/entry/add/")
    page.get_by_label("Title").press_sequentially("Scripts from files only")
    # The slug is filled in by the admin's JavaScript: scripts run under the policy.
    expect = pytest.importorskip("playwright.sync_api").expect
    expect(page.locator("#id_slug")).to_have_value("scripts-from-files-only")
    for path in ["blog/entry/", "blog/comment/", "auth/user/"]:
        page.goto(admin + path)
    page.goto(live_server.url + "/no-such-page/")
    assert page.locator("h1").inner_text() == "Page not found"
    blocked = [text for text, _where in page.console_errors if "Content Security Policy" in text]
    assert blocked == []
