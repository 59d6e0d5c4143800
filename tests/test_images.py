"""Images uploaded with an entry: real rasters only, within limits, in renditions made once."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from blog.images import validate_image
from blog.models import Entry, EntryImage

pytestmark = pytest.mark.django_db


def picture(fmt="PNG", size=(1200, 800), name=None, **save_options):
    """An uploaded file holding a real image in this format."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 60, 30)).save(buffer, fmt, **save_options)
    extension = {"JPEG": "jpg"}.get(fmt, fmt.lower())
    return SimpleUploadedFile(name or f"photo.{extension}", buffer.getvalue())


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("author", "a@example.org", "a-passphrase")
    client.force_login(user)
    return client


def admin_form(entry, **fields):
    return {
        "title": entry.title,
        "slug": entry.slug,
        "summary": "",
        "body": entry.body,
        "timestamp_0": entry.timestamp.strftime("%Y-%m-%d"),
        "timestamp_1": entry.timestamp.strftime("%H:%M:%S"),
        "comments_enabled": "on",
        "comments-TOTAL_FORMS": "0",
        "comments-INITIAL_FORMS": "0",
        "images-TOTAL_FORMS": "1",
        "images-INITIAL_FORMS": "0",
        "tagged_items-TOTAL_FORMS": "0",
        "tagged_items-INITIAL_FORMS": "0",
        **fields,
    }


def test_an_image_uploaded_in_the_admin_shows_in_the_entry(client, staff_client, create_entry):
    """Upload on the entry's form; its Markdown is shown to copy; the page gets renditions
    (srcset, sizes, width, height, lazy), and the cached page changes at once."""
    entry = create_entry(title="Pictured", body="Look:\n\n![](image:1)")
    client.get(entry.get_absolute_url())  # cached without the picture
    change = reverse("admin:blog_entry_change", args=[entry.pk])
    form = admin_form(entry, **{"images-0-image": picture(), "images-0-alt": "A red field"})
    response = staff_client.post(change, form)
    assert response.status_code == 302, response.context["inline_admin_formsets"][0].formset.errors
    image = EntryImage.objects.get()
    assert (image.format, image.width, image.height) == ("PNG", 1200, 800)
    assert [w for w, _h, _n in image.renditions] == [480, 960, 1200]
    for width, height, name in image.renditions:
        with default_storage.open(name) as stored, Image.open(stored) as made:
            assert made.size == (width, height)
    assert image.image.name == f"images/{image.stem}.png"

    html = staff_client.get(change).content.decode()
    assert f'<code class="entry-image-markdown">![A red field](image:{image.pk})</code>' in html

    entry.body = f"Look:\n\n![](image:{image.pk})"
    entry.save()
    page = client.get(entry.get_absolute_url()).content.decode()
    srcset = ", ".join(f"/media/{n} {w}w" for w, _h, n in image.renditions)
    article = page[page.find("<article") : page.find("</article>")]  # shown if it fails
    assert (
        f'<img alt="A red field" height="800" loading="lazy" '
        f'sizes="(max-width: 42rem) 100vw, 42rem" src="/media/{image.renditions[1][2]}" '
        f'srcset="{srcset}" width="1200">'
    ) in page, (article, Entry.objects.get(pk=entry.pk).body_html)
    assert entry.share_image == f"/media/{image.renditions[-1][2]}"


@pytest.mark.django_db(transaction=True)  # pages go stale when the write commits
def test_an_upload_re_renders_the_entry_that_refers_to_it(client, create_entry):
    """A body may name the image before it exists; the upload makes the reference live."""
    entry = create_entry(body="![](image:1)")
    assert "[image 1?]" in client.get(entry.get_absolute_url()).content.decode()
    image = EntryImage.objects.create(entry=entry, image=picture(), alt="Late")
    entry.body = f"![](image:{image.pk})"
    entry.save()
    assert 'alt="Late"' in client.get(entry.get_absolute_url()).content.decode()  # now cached
    image.alt = "Renamed"
    image.save()  # the image alone: the entry's HTML and the cached page follow
    assert 'alt="Renamed"' in client.get(entry.get_absolute_url()).content.decode()
    pk = image.pk
    image.delete()
    assert f"[image {pk}?]" in client.get(entry.get_absolute_url()).content.decode()


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "drawing.svg"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "x.png"),
        (b"<!doctype html><script>alert(1)</script>", "page.jpg"),
        (b"GIF89a<script>alert(1)</script>", "polyglot.gif"),
        (b"\x89PNG\r\n\x1a\n<html>not really</html>", "fake.png"),
        (b"", "empty.png"),
    ],
)
def test_anything_but_a_raster_image_is_refused(content, name):
    with pytest.raises(ValidationError) as error:
        validate_image(SimpleUploadedFile(name, content))
    assert error.value.messages[0] in (
        "This file is not a JPEG, PNG, GIF or WebP image (SVG and other formats are refused).",
    ) or error.value.messages[0].startswith("This image could not be read")


def test_other_raster_formats_are_refused_too():
    """A BMP or TIFF is a real image, but not one the site serves."""
    for fmt in ("BMP", "TIFF"):
        with pytest.raises(ValidationError, match="not a JPEG, PNG, GIF or WebP"):
            validate_image(picture(fmt, name="looks.png"))


def test_the_four_formats_are_accepted():
    for fmt in ("JPEG", "PNG", "GIF", "WEBP"):
        validate_image(picture(fmt, size=(40, 30)))


def test_size_and_pixel_limits_have_clear_messages(settings):
    settings.BLOG_IMAGE_MAX_BYTES = 1000
    with pytest.raises(ValidationError) as error:
        validate_image(picture(size=(600, 600), optimize=False, compress_level=0))
    assert "; images may be 1000\xa0bytes at most." in error.value.messages[0]
    settings.BLOG_IMAGE_MAX_BYTES = 10**7
    settings.BLOG_IMAGE_MAX_PIXELS = 1_000_000
    with pytest.raises(ValidationError, match=r"2000×1000 pixels; images may have 1 million"):
        validate_image(picture(size=(2000, 1000)))


def test_the_admin_shows_why_an_upload_was_refused(staff_client, create_entry):
    """A refused upload (SVG, or no alt text) comes back with the message; nothing stored."""
    entry = create_entry()
    change = reverse("admin:blog_entry_change", args=[entry.pk])
    svg = SimpleUploadedFile("x.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>')
    response = staff_client.post(
        change, admin_form(entry, **{"images-0-image": svg, "images-0-alt": "x"})
    )
    assert response.status_code == 200
    assert "This file is not a JPEG, PNG, GIF or WebP image" in response.content.decode()
    response = staff_client.post(
        change, admin_form(entry, **{"images-0-image": picture(), "images-0-alt": ""})
    )
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not EntryImage.objects.exists()


def test_renditions_drop_metadata_and_never_upscale(create_entry):
    """A small picture gets one rendition at its own width; EXIF (GPS) is not copied."""
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    image = EntryImage.objects.create(
        entry=create_entry(), image=picture("JPEG", size=(300, 200), exif=exif), alt="Small"
    )
    assert [[w, h] for w, h, _n in image.renditions] == [[300, 200]]
    with default_storage.open(image.renditions[0][2]) as stored:
        assert b"SecretCam" not in stored.read()


def test_deleting_an_image_removes_its_files(create_entry, django_capture_on_commit_callbacks):
    image = EntryImage.objects.create(entry=create_entry(), image=picture(), alt="Gone")
    names = image.stored_names()
    assert all(default_storage.exists(name) for name in names)
    with django_capture_on_commit_callbacks(execute=True):
        image.delete()
    assert not any(default_storage.exists(name) for name in names)


def test_images_of_drafts_are_not_on_public_pages(client, create_entry):
    draft = create_entry(title="Draft", is_draft=True)
    image = EntryImage.objects.create(entry=draft, image=picture(), alt="Hidden")
    draft.body = f"![](image:{image.pk})"
    draft.save()
    public = create_entry(title="Public", body=f"![](image:{image.pk})")
    page = client.get(public.get_absolute_url()).content.decode()
    assert image.renditions[0][2] not in page  # only an entry's own images
    assert client.get(draft.get_absolute_url()).status_code == 404
    assert Entry.objects.published().filter(images__isnull=False).count() == 0


def test_a_replaced_file_leaves_no_old_files(create_entry, django_capture_on_commit_callbacks):
    image = EntryImage.objects.create(entry=create_entry(), image=picture(), alt="First")
    old = image.stored_names()
    with django_capture_on_commit_callbacks(execute=True):
        image.image = picture("JPEG", size=(500, 400))
        image.save()
    assert not any(default_storage.exists(name) for name in old)
    assert all(default_storage.exists(name) for name in image.stored_names())
    assert [w for w, _h, _n in image.renditions] == [480, 500]


def test_the_markdown_to_copy_survives_brackets_in_the_alt_text(create_entry):
    entry = create_entry()
    image = EntryImage.objects.create(entry=entry, image=picture(), alt="A [red] box")
    assert image.markdown == f"![A \\[red\\] box](image:{image.pk})"
    entry.body = image.markdown
    entry.save()
    assert 'alt="A [red] box"' in entry.body_html


def test_transparency_is_kept_in_renditions(create_entry):
    buffer = io.BytesIO()
    Image.new("RGBA", (600, 300), (0, 0, 0, 0)).save(buffer, "PNG")
    image = EntryImage.objects.create(
        entry=create_entry(), image=SimpleUploadedFile("t.png", buffer.getvalue()), alt="Clear"
    )
    with default_storage.open(image.renditions[0][2]) as stored, Image.open(stored) as made:
        assert made.mode == "RGBA" and made.getpixel((0, 0))[3] == 0
