"""What the service accepts as an image, checked before anything is stored or scored.

Each refusal is an UploadError with the HTTP status it deserves and a one-line message that
says what to send instead.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image

MAX_BYTES = 20 * 1024 * 1024  # a 20 MB body; a camera frame is far smaller
MAX_PIXELS = 40_000_000  # 40 MP: decoding a larger image would take seconds and gigabytes
FORMATS = {"PNG": ".png", "JPEG": ".jpg", "BMP": ".bmp", "TIFF": ".tif", "WEBP": ".webp", "GIF": ".gif",
           "PPM": ".ppm"}
CONTENT_TYPES = ("image/", "application/octet-stream")


class UploadError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Upload:
    data: bytes
    ext: str
    width: int
    height: int


def check_content_type(content_type: str | None) -> None:
    kind = (content_type or "").split(";")[0].strip().lower()
    if not kind.startswith(CONTENT_TYPES):
        raise UploadError(415, f"content type {kind or 'missing'!r}: send the image file itself as the body "
                               "with Content-Type image/png, image/jpeg or another image/* type")


def check_length(declared: str | None) -> None:
    """Refuse a body announced as too large before reading it."""
    if declared is not None and declared.isdigit() and int(declared) > MAX_BYTES:
        raise UploadError(413, f"body of {int(declared):,} bytes: at most {MAX_BYTES:,}; "
                               "send a smaller (downscaled or compressed) image")


def parse_image(data: bytes) -> Upload:
    """Check that the bytes are one image of a known format and a sane size, decoding it
    fully (a truncated file fails here, not in the model)."""
    if not data:
        raise UploadError(400, "empty body: send the image file's bytes")
    if len(data) > MAX_BYTES:
        raise UploadError(413, f"body of {len(data):,} bytes: at most {MAX_BYTES:,}; "
                               "send a smaller (downscaled or compressed) image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # only these decoders: others (EPS through Ghostscript, ...) are no business of a server
            im = Image.open(io.BytesIO(data), formats=list(FORMATS))
            width, height = im.width, im.height
            if width * height > MAX_PIXELS:
                raise UploadError(413, f"image of {width}x{height} pixels: at most {MAX_PIXELS // 1_000_000} MP; "
                                       "downscale it (the model sees it at its own input size anyway)")
            im.load()
    except UploadError:
        raise
    except Image.DecompressionBombError:
        raise UploadError(413, f"image larger than {MAX_PIXELS // 1_000_000} MP; downscale it") from None
    except Image.UnidentifiedImageError:
        raise UploadError(400, f"the body is not an image of a known format; send a "
                               f"{', '.join(FORMATS)} file") from None
    except Exception as exc:  # PIL raises many types for a damaged image
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UploadError(400, f"the body is not a readable image ({reason}); send a "
                               f"{', '.join(FORMATS)} file") from None
    return Upload(data, FORMATS[im.format], width, height)
