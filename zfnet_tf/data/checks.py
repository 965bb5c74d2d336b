"""Finding the files that are not readable images, before anything decodes them in a pipeline.

A tf.data pipeline cannot say which file failed to decode, and one failure ends an epoch or a
pass. So every image a data source lists is checked first, cheaply, and a bad one is skipped
with a warning that names it and says why (`SkippedFile`, in every command's JSON output), or,
with `strict`, is an error that names it.

The check reads the header and the last bytes of a file, not its pixels:
- its first bytes must be a JPEG, PNG, GIF, BMP or WebP signature (what `tf.io.decode_image`
  reads);
- its width x height, read from the header (`zfnet_tf.data.headers`), must be at most
  `max_pixels` (DESIGN.md §16: a 0.4 MB PNG can hold 20000 x 20000 pixels, 1.2 GB decoded),
  so an image bomb is skipped and named like an unreadable file, never decoded;
- PIL must parse its header;
- a PNG's chunks are walked with their checksums (PIL's `verify`);
- a JPEG must end with its end-of-image marker (a GIF with its trailer): entropy-coded data
  cannot contain that marker, so a file cut anywhere in its scans lacks it. A file without it
  (cut short, or with bytes appended after the image) is decoded to decide; for a JPEG at an
  eighth of its size, which still reads all of its data.
"""

from __future__ import annotations

import io
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO, Sequence

from zfnet_tf.data.headers import (
    DEFAULT_MAX_IMAGE_PIXELS,
    FORMATS,
    decoded_pixels,
    image_format,
    pixel_limit_problem,
)

# The bytes a complete file of the format ends with (BMP has none: it is always decoded).
_END_MARKERS = {"JPEG": b"\xff\xd9", "PNG": b"IEND\xaeB`\x82", "GIF": b"\x3b"}
_THREADS = 8


@dataclass(frozen=True)
class SkippedFile:
    """A listed image that is not used, and why."""

    path: str
    reason: str

    def to_json(self) -> dict:
        return {"path": self.path, "reason": self.reason}


class SkippedFilesWarning(UserWarning):
    """Files of a data source were skipped because they are not readable images, or are
    larger than the pixel limit."""


def image_problem(handle: BinaryIO, max_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS) -> str | None:
    """Why the image in `handle` (a binary file object) is not readable, or is over
    `max_pixels` (width x height by its header; None: no limit), or None if it is usable."""
    from PIL import Image

    head = handle.read(12)
    if not head:
        return "empty file"
    kind = image_format(head)
    if kind is None:
        return f"not a {FORMATS} image (it starts with {head[:8]!r})"
    handle.seek(0)
    try:
        width, height, pixels = decoded_pixels(handle)
    except ValueError as error:
        return f"broken {kind} header ({error})"
    if max_pixels is not None:
        too_big = pixel_limit_problem(width, height, max_pixels, pixels)
        if too_big:
            return too_big
    marker = _END_MARKERS.get(kind, b"")
    handle.seek(0, io.SEEK_END)
    size = handle.tell()
    complete = False
    if marker and size >= len(marker):
        handle.seek(size - len(marker))
        complete = handle.read(len(marker)) == marker
    handle.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(handle) as image:
                if kind == "PNG":
                    image.verify()
                elif not complete:
                    image.draft("RGB", (1, 1))  # JPEG: decode at 1/8 scale; others: no-op
                    image.load()
    except Image.DecompressionBombError:
        return None  # very large, not broken: TensorFlow decodes it
    except Exception as error:  # PIL raises many types for broken files
        detail = str(error).split(" <", 1)[0]  # drop PIL's repr of the file object
        if isinstance(error, Image.UnidentifiedImageError):
            return f"broken {kind} header ({detail})"
        if "truncated" in detail:
            return f"truncated {kind} ({detail})"
        return f"corrupt {kind} ({type(error).__name__}: {detail})"
    return None


def _problem(item: str | bytes, max_pixels: int | None) -> str | None:
    """`image_problem` of a file path or of encoded bytes."""
    if isinstance(item, bytes):
        return image_problem(io.BytesIO(item), max_pixels)
    try:
        with open(item, "rb") as handle:
            return image_problem(handle, max_pixels)
    except OSError as error:
        return f"cannot read the file ({error.strerror or error})"


def check_images(
    items: Sequence[str | bytes],
    names: Sequence[str],
    strict: bool = False,
    limit: int | None = None,
    what: str = "the data",
    max_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS,
) -> tuple[list[int], list[SkippedFile]]:
    """Checks images (file paths or encoded bytes) in order: `(usable indices, skipped)`.

    Args:
        items: what to check.
        names: how each item is named in warnings, errors and reports (e.g. its path).
        strict: raise ValueError naming the first bad item instead of skipping it.
        limit: stop once this many usable items are found (the rest is not read).
        what: the data's description, for the warning.
        max_pixels: an image of more pixels (width x height, by its header) is skipped, or
            with `strict` an error, like an unreadable one; None: no limit.

    Skipped items get one `SkippedFilesWarning` that names every one and says why. Raises
    ValueError if no item is usable.
    """
    usable: list[int] = []
    skipped: list[SkippedFile] = []
    wanted = len(items) if limit is None else limit
    start = 0
    with ThreadPoolExecutor(max_workers=_THREADS) as pool:
        # In chunks, so that a small limit does not read a large folder.
        while len(usable) < wanted and start < len(items):
            stop = min(len(items), start + max(2 * (wanted - len(usable)), 64))
            for index, problem in zip(range(start, stop), pool.map(lambda item: _problem(item, max_pixels), items[start:stop])):
                if len(usable) == wanted:
                    break  # the rest is not used, so it is neither counted nor reported
                if problem is None:
                    usable.append(index)
                    continue
                if strict:
                    raise ValueError(
                        f"{names[index]}: {problem} (strict: an unreadable or oversized image is "
                        "an error; without strict it is skipped and named)"
                    )
                skipped.append(SkippedFile(names[index], problem))
            start = stop
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} file(s) of {what} that are not readable images or are over "
            "the pixel limit:\n"
            + "\n".join(f"  {s.path}: {s.reason}" for s in skipped),
            SkippedFilesWarning,
            stacklevel=2,
        )
    if not usable:
        raise ValueError(f"{what} has no readable images")
    return usable, skipped
