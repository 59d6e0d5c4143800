"""The Content-Security-Policy in a real browser: the admin and the error pages work under it
(Chromium reports every blocked script or style on the console)."""

import pytest

pytestmark = pytest.mark.browser


def test_admin_works_under_the_csp(live_server, admin_page):
    page, admin = admin_page, admin_page.admin_url

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
