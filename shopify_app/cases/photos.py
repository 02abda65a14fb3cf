"""Photos a customer attaches to a report: limited in count and size, checked by content, re-encoded without metadata."""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

MAX_PHOTOS = 3
MAX_PHOTO_BYTES = 5 * 1024 * 1024  # as uploaded; phones' JPEGs are 2-4 MB
MAX_PIXELS = 24_000_000  # 24 MP, a modern phone's photo (~96 MB RGBA decoded); a decompression bomb is refused before it is decoded
MAX_SIDE = 2000  # stored at most this wide or high: enough to see a dent, small to serve
ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}


class PhotoRefused(ValueError):
    """An upload that is not a photo we keep; str() says why, in words for the customer."""

    def __init__(self, reason: str, filename: str | None = None):
        super().__init__(reason)
        self.reason, self.filename = reason, filename


@dataclass(frozen=True)
class CleanPhoto:
    content_type: str
    width: int
    height: int
    data: bytes


def clean_photos(uploads: list[tuple[str | None, bytes]]) -> list[CleanPhoto]:
    """Check every (filename, bytes) upload and re-encode it; raises PhotoRefused for the first bad one."""
    uploads = [(name, data) for name, data in uploads if data]  # an empty file input sends an empty part
    if len(uploads) > MAX_PHOTOS:
        raise PhotoRefused("too_many")
    return [clean_photo(name, data) for name, data in uploads]


def clean_photo(filename: str | None, data: bytes) -> CleanPhoto:
    """Decode the bytes as an image (never trusting the name or a magic number alone) and re-encode them as JPEG or PNG."""
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoRefused("too_large", filename)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                if probe.format not in ACCEPTED_FORMATS or probe.width * probe.height > MAX_PIXELS:
                    raise PhotoRefused("not_an_image", filename)
                probe.verify()  # a PNG header in front of HTML fails here or on load below
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                return _reencoded(image)
    except PhotoRefused:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning, EOFError):
        raise PhotoRefused("not_an_image", filename) from None


def _reencoded(image: Image.Image) -> CleanPhoto:
    """A fresh file from the pixels alone: EXIF (GPS, camera serial) and any appended bytes are gone."""
    from PIL import ImageOps

    image = ImageOps.exif_transpose(image)  # keep the photo upright once its EXIF is dropped
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    keep_alpha = image.mode in ("RGBA", "LA", "P") and "transparency" in image.info or image.mode in ("RGBA", "LA")
    out = io.BytesIO()
    if keep_alpha:
        image.convert("RGBA").save(out, "PNG", optimize=True)
        content_type = "image/png"
    else:
        image.convert("RGB").save(out, "JPEG", quality=85)
        content_type = "image/jpeg"
    return CleanPhoto(content_type, image.width, image.height, out.getvalue())
