"""An author writes a real technical post in Chromium against Apache (mod_wsgi-express), and a
reader finds it. Screenshots at phone and desktop widths go to artifacts/screenshots/."""

import re

import pytest
from django.conf import settings as django_settings
from PIL import Image, ImageDraw

from tests.browser import DESKTOP
from tests.test_browser import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.server]
AXE = django_settings.BASE_DIR / "node_modules" / "axe-core" / "axe.min.js"

BODY = """# Why threads need their own connection

One global connection is shared by every request[^race].

```python
def get_connection():
    return connections["default"]
```

[^race]: Two threads in one transaction see each other's writes.
"""


def new_page(browser, server):
    context = browser.new_context(viewport=DESKTOP, base_url=server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.console_errors = []
    page.on(
        "console",
        lambda m: (
            m.type == "error"
            # The admin's pages name no icon: Chromium asks for /favicon.ico, a 404.
            and not m.location.get("url", "").endswith("/favicon.ico")
            and page.console_errors.append((m.text, m.location))
        ),
    )
    return page


def test_author_writes_previews_and_publishes_a_post(browser, mod_wsgi_server, tmp_path):
    server = mod_wsgi_server(processes=1, threads=8)
    server.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        "User.objects.create_superuser('author', 'a@example.org', 'a-long-passphrase')",
    )
    photo = tmp_path / "diagram.png"
    picture = Image.new("RGB", (1800, 1000), (245, 245, 240))
    ImageDraw.Draw(picture).rectangle((300, 200, 1500, 800), fill=(11, 92, 173))
    picture.save(photo)

    page = new_page(browser, server)
    admin = "/" + django_settings.ADMIN_URL
    page.goto(admin)
    page.get_by_label("Username").fill("author")
    page.get_by_label("Password").fill("a-long-passphrase")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_selector("#site-name")

    # Write: title, summary, body, and an image with its alt text; save as a draft.
    page.goto(admin + "blog/entry/add/")
    assert page.locator("#id_is_draft").is_checked()  # a new entry starts as a draft
    page.get_by_label("Title").fill("Connections per thread")
    page.locator("#id_summary").fill("What broke, and the *one-line* fix.")
    page.locator("#id_body").fill(BODY)
    # The live preview shows the heading as it will be, before anything is saved.
    page.wait_for_selector(".entry-preview h2#why-threads-need-their-own-connection")
    assert page.locator(".entry-preview .codehilite .k").first.inner_text() == "def"
    page.locator("#id_images-0-image").set_input_files(str(photo))
    page.locator("#id_images-0-alt").fill("A blue box on a grey page")
    page.locator("input[name=_continue]").click()
    page.wait_for_selector("code.entry-image-markdown")
    markdown = page.locator("code.entry-image-markdown").inner_text()
    assert re.fullmatch(r"!\[A blue box on a grey page\]\(image:\d+\)", markdown)

    # Put the image in the body: the preview shows it with its renditions.
    page.locator("#id_body").fill(BODY + "\n" + markdown + "\n")
    preview_image = page.locator(".entry-preview img[srcset]")
    preview_image.wait_for()
    assert preview_image.get_attribute("loading") == "lazy"
    assert preview_image.get_attribute("width") == "1600"
    assert page.locator(".entry-preview .footnote li").count() == 1
    screenshot(page, "writing-admin-preview")

    # Nothing is public yet.
    reader = new_page(browser, server)
    assert "Connections per thread" not in reader.goto("/").text()

    page.locator("input[name=_publish]").click()
    page.wait_for_selector(".messagelist .success")
    assert "is published" in page.locator(".messagelist").inner_text()

    # A reader sees the summary on the front page and the whole post on its page.
    media = []
    reader.on("response", lambda r: "/media/" in r.url and media.append(r))
    reader.goto("/")
    summary = reader.locator("article.entry-summary").first
    assert summary.locator("h2").inner_text() == "Connections per thread"
    assert summary.locator(".entry-body em").inner_text() == "one-line"
    assert "global connection" not in summary.inner_text()
    screenshot(reader, "writing-front-page")
    summary.get_by_role("link", name="Continue reading").click()
    reader.wait_for_url(re.compile(r"/connections-per-thread/$"))
    body = reader.locator(".entry-body")
    assert body.locator("h2").first.inner_text() == "Why threads need their own connection"
    assert body.locator(".codehilite .nf").inner_text() == "get_connection"
    footnote_ref = body.locator("sup a.footnote-ref")
    footnote_ref.click()
    assert reader.url.endswith(footnote_ref.get_attribute("href"))

    image = body.locator("img[srcset]")
    image.scroll_into_view_if_needed()
    reader.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    # Served by Apache from MEDIA_ROOT: a picture, marked so no browser sniffs it into a page.
    [response] = media
    assert re.search(r"/media/images/[0-9a-f]{32}-\d+\.png$", response.url)
    assert response.status == 200
    assert response.headers["content-type"].startswith("image/")
    assert response.headers["x-content-type-options"] == "nosniff"
    reader.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    screenshot(reader, "writing-entry-page")
    assert page.console_errors == [] and reader.console_errors == []

    # axe-core finds nothing on the new pages (its script needs the CSP bypassed).
    checker = browser.new_context(viewport=DESKTOP, base_url=server.url, bypass_csp=True)
    try:
        axe_page = checker.new_page()
        for url in ("/", reader.url.split("#")[0], "/search/?q=connection"):
            axe_page.goto(url)
            axe_page.add_script_tag(path=str(AXE))
            violations = axe_page.evaluate(
                "async () => (await axe.run(document)).violations"
                ".map(v => [v.id, v.nodes.map(n => n.target)])"
            )
            assert violations == [], (url, violations)
    finally:
        checker.close()
