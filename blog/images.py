"""Uploaded pictures: only real raster images within limits, resized once into renditions."""

import io

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow's format name -> the extension it is stored and served under (Apache's type map).
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}
# Renditions keep the format, but an animated or paletted GIF becomes a still PNG.
RENDITION_FORMAT = {"JPEG": "JPEG", "PNG": "PNG", "GIF": "PNG", "WEBP": "WEBP"}
RENDITION_WIDTHS = (480, 960, 1600)
HELP_TEXT = _(
    "A JPEG, PNG, GIF or WebP picture (no SVG). The page shows it in widths up to 1600 pixels; "
    "copy its Markdown (shown after saving) into the body."
)


def validate_image(upload):
    """Refuse anything but a JPEG, PNG, GIF or WebP within the size and pixel limits."""
    open_image(upload)


def open_image(upload) -> Image.Image:
    """The upload decoded by Pillow (every pixel read), or a ValidationError saying why not."""
    max_bytes = settings.BLOG_IMAGE_MAX_BYTES
    if upload.size > max_bytes:
        raise ValidationError(
            _("This file is %(size)s; images may be %(max)s at most."),
            params={"size": filesizeformat(upload.size), "max": filesizeformat(max_bytes)},
            code="too_big",
        )
    not_an_image = ValidationError(
        _("This file is not a JPEG, PNG, GIF or WebP image (SVG and other formats are refused)."),
        code="format",
    )
    max_pixels = settings.BLOG_IMAGE_MAX_PIXELS
    upload.seek(0)
    data = upload.read()
    upload.seek(0)
    try:
        # formats=: Pillow tries only these decoders, whatever the name or extension says.
        with Image.open(io.BytesIO(data), formats=list(EXTENSIONS)) as probe:
            if probe.width * probe.height > max_pixels:
                raise ValidationError(
                    _(
                        "This image is %(width)s×%(height)s pixels; images may have "
                        "%(max)s million pixels at most."
                    ),
                    params={
                        "width": probe.width,
                        "height": probe.height,
                        "max": max_pixels // 1_000_000,
                    },
                    code="too_many_pixels",
                )
            probe.verify()
        picture = Image.open(io.BytesIO(data), formats=list(EXTENSIONS))
        picture.load()  # a truncated or corrupt file fails here, not when resized
    except UnidentifiedImageError:
        raise not_an_image from None
    except Image.DecompressionBombError:
        raise ValidationError(
            _("This image has too many pixels (%(max)s million at most)."),
            params={"max": max_pixels // 1_000_000},
            code="too_many_pixels",
        ) from None
    except ValidationError:
        raise
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValidationError(
            _("This image could not be read (%(error)s)."), params={"error": exc}, code="corrupt"
        ) from None
    if picture.format not in EXTENSIONS:
        raise not_an_image
    return picture


def make_renditions(picture: Image.Image, stem: str, storage) -> list[list]:
    """Save the picture in each width smaller than it (and its own, up to the largest);
    [[width, height, name], ...], narrowest first. Metadata (EXIF, GPS) is not copied."""
    kind = RENDITION_FORMAT[picture.format]
    still = ImageOps.exif_transpose(picture)
    transparent = picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info
    # RGBA only where there is transparency to keep: it makes PNGs slower and larger.
    still = still.convert("RGBA" if transparent and kind != "JPEG" else "RGB")
    widths = sorted({w for w in RENDITION_WIDTHS if w < still.width} | {min(still.width, 1600)})
    renditions = []
    for width in widths:
        height = max(1, round(still.height * width / still.width))
        resized = still if width == still.width else still.resize((width, height), Image.LANCZOS)
        buffer = io.BytesIO()
        options = {"quality": 85, "optimize": True} if kind in ("JPEG", "WEBP") else {}
        resized.save(buffer, kind, **options)
        extension = EXTENSIONS[kind]
        name = storage.save(f"images/{stem}-{width}.{extension}", ContentFile(buffer.getvalue()))
        renditions.append([width, height, name])
    return renditions
