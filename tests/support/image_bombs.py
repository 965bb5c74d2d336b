"""Image bombs for the limit tests (DESIGN.md §16): small files that claim, or really hold,
huge images.

- `black_png(width, height)`: a real, valid PNG of black 8-bit grey pixels, written row by
  row through a streaming zlib compressor (never holding the pixels): 20000 x 20000 is a
  0.39 MB file and 400 MB of pixels (1.2 GB as RGB), the issue's bomb.
- `png_claiming(width, height)` / `jpeg_claiming(width, height)`: a small real image whose
  header is rewritten to claim another size (the PNG's IHDR with its CRC recomputed, the
  JPEG's frame header), so only a header reader sees the claimed size.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib

import numpy as np
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@functools.lru_cache(maxsize=4)
def black_png(width: int, height: int) -> bytes:
    """A valid PNG of `width` x `height` black 8-bit grey pixels."""
    compressor = zlib.compressobj(9)
    rows = 64  # rows handed to zlib at once
    block = bytes((1 + width) * rows)  # each row: filter type 0, then its zeros
    parts = [compressor.compress(block) for _ in range(height // rows)]
    parts.append(compressor.compress(bytes((1 + width) * (height % rows))))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")


def encoded(fmt: str, width: int, height: int, seed: int = 0, **options) -> bytes:
    """A random RGB image of `width` x `height` encoded by PIL."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt, **options)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A 16 x 16 PNG whose IHDR claims `width` x `height` (its CRC made right)."""
    data = encoded("PNG", 16, 16)
    ihdr_data = struct.pack(">II", width, height) + data[24:29]
    return data[:8] + _chunk(b"IHDR", ihdr_data) + data[33:]


def jpeg_claiming(width: int, height: int) -> bytes:
    """A 16 x 16 JPEG whose frame header (SOF0) claims `width` x `height` (at most 65535)."""
    data = encoded("JPEG", 16, 16)
    sof = data.index(b"\xff\xc0")
    # marker (2), length (2), precision (1), then height and width.
    return data[: sof + 5] + struct.pack(">HH", height, width) + data[sof + 9 :]


def gif_frames(width: int, height: int, frames: int) -> bytes:
    """A valid GIF of `frames` black `width` x `height` frames: one frame encoded by PIL, its
    blocks repeated (a decoder reads every frame: what it costs is frames x width x height)."""
    buffer = io.BytesIO()
    Image.new("L", (width, height)).save(buffer, "GIF")
    single = buffer.getvalue()
    flags = single[10]
    header = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    assert single.endswith(b";")
    return single[:header] + single[header:-1] * frames + b";"
