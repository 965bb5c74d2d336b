"""An image's width and height from its header, before anything decodes it (DESIGN.md §16).

A 0.4 MB PNG can hold 20000 x 20000 black pixels, 1.2 GB once decoded and several times that
on its way through a resize: a file or a request is measured before it is decoded. The
header says the size for every format `tf.io.decode_image` reads:

- JPEG: the frame header (an SOF marker segment: precision, height, width, big-endian);
- PNG: the IHDR chunk, bytes 16-24 (width, height, big-endian);
- GIF: the logical screen, bytes 6-10 (width, height, little-endian); and, because TensorFlow's
  GIF decoder (giflib's slurp) reads every frame even when only the first is kept, the frames'
  own sizes, summed by walking the blocks (a 0.4 MB GIF of 100 frames of 2000 x 2000 costs
  400 MB to decode);
- BMP: the DIB header from byte 14 (a 12-byte core header holds 16-bit sizes, every later
  one 32-bit signed sizes, a negative height meaning top-down rows);
- WebP: the first chunk after `RIFF....WEBP`: `VP8X` (24-bit width-1, height-1 at 24),
  `VP8L` (14-bit width-1, height-1 packed after the 0x2f signature at 20) or `VP8 ` (14-bit
  width, height after the key frame's start code at 23).

Two readers of the same layouts: `image_dimensions` for Python (a file object; the data
layer's checks) and `image_dimensions_tensor` for TensorFlow graphs (the exported
signatures, so `tensorflow_model_server` refuses a bomb as well). Both are tested against
the same files, with PIL's sizes as the reference.
"""

from __future__ import annotations

import io
import struct
from typing import BinaryIO

# 64 * 2**20: 64 megapixels (an 8192 x 8192 image), 192 MiB as 8-bit RGB.
DEFAULT_MAX_IMAGE_PIXELS = 64 * 2**20

# Leading bytes of the formats `tf.io.decode_image` reads (WebP: RIFF, then WEBP at 8).
SIGNATURES = {
    "JPEG": (b"\xff\xd8\xff",),
    "PNG": (b"\x89PNG\r\n\x1a\n",),
    "GIF": (b"GIF87a", b"GIF89a"),
    "BMP": (b"BM",),
    "WebP": (b"RIFF",),
}
FORMATS = "JPEG, PNG, GIF, BMP or WebP"
# The bytes every fixed-place header field lies in (WebP's VP8 sizes end at byte 30).
_HEAD_BYTES = 32
# JPEG markers that carry a frame header: SOF0-SOF15 but DHT (C4), JPG (C8) and DAC (CC).
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# JPEG markers without a length field: TEM, RST0-7, SOI.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})


def image_format(head: bytes) -> str | None:
    """The format whose signature `head` (the first bytes) starts with, or None."""
    for kind, signatures in SIGNATURES.items():
        if head.startswith(signatures) and (kind != "WebP" or head[8:12] == b"WEBP"):
            return kind
    return None


def image_dimensions(handle: BinaryIO) -> tuple[str, int, int]:
    """`(format, width, height)` of the image in `handle` (a binary file object at its
    start), from the header alone: a JPEG's segments are skipped to its frame header, no
    other format is read past byte 32.

    Raises ValueError saying why the header gives no size (not an image of these formats,
    cut short, no JPEG frame header).
    """
    head = handle.read(_HEAD_BYTES)
    kind = image_format(head)
    if kind is None:
        raise ValueError(f"not a {FORMATS} image (it starts with {head[:8]!r})")
    if kind == "JPEG":
        return (kind, *_jpeg_dimensions(handle))
    if len(head) < _HEAD_BYTES:
        head = head + bytes(_HEAD_BYTES - len(head))  # a short file reads as zeros, as in the graph
    if kind == "PNG":
        if head[12:16] != b"IHDR":  # the first chunk must be the header: anything else is no size
            raise ValueError(f"broken PNG header (its first chunk is {head[12:16]!r}, not IHDR)")
        width, height = struct.unpack(">II", head[16:24])
    elif kind == "GIF":
        width, height = struct.unpack("<HH", head[6:10])
    elif kind == "BMP":
        if struct.unpack("<I", head[14:18])[0] == 12:
            width, height = struct.unpack("<HH", head[18:22])
        else:
            width, height = struct.unpack("<ii", head[18:26])
        width, height = abs(width), abs(height)
    else:
        width, height = _webp_dimensions(head)
    return kind, width, height


def image_dimensions_of(data: bytes) -> tuple[str, int, int]:
    """`image_dimensions` of encoded bytes."""
    return image_dimensions(io.BytesIO(data))


def decoded_pixels(handle: BinaryIO) -> tuple[int, int, int]:
    """`(width, height, pixels)` of the image in `handle`: `pixels` is what decoding it
    costs, width x height, or for a GIF the sum over its frames if that is more (see the
    module's docstring). Raises ValueError as `image_dimensions`."""
    kind, width, height = image_dimensions(handle)
    pixels = width * height
    if kind == "GIF":
        handle.seek(0)
        pixels = max(pixels, _gif_frame_pixels(handle.read()))
    return width, height, pixels


def _gif_color_table(flags: int) -> int:
    return 3 << ((flags & 7) + 1) if flags & 0x80 else 0


def _gif_frame_pixels(data: bytes) -> int:
    """The sum of width x height over a GIF's image descriptors (frames)."""
    position, total = 13 + _gif_color_table(data[10] if len(data) > 10 else 0), 0
    while position < len(data):
        introducer = data[position]
        if introducer == 0x21:  # extension: label, then sub-blocks
            position += 2
        elif introducer == 0x2C and position + 10 <= len(data):  # image descriptor
            width, height = struct.unpack("<HH", data[position + 5 : position + 9])
            total += width * height
            position += 10 + _gif_color_table(data[position + 9]) + 1  # then the LZW code size
        else:
            break  # the trailer, or bytes that are no block
        while position < len(data) and data[position]:  # sub-blocks up to the empty one
            position += data[position] + 1
        position += 1
    return total


def _webp_dimensions(head: bytes) -> tuple[int, int]:
    chunk = head[12:16]
    if chunk == b"VP8X":
        return (int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1)
    if chunk == b"VP8L":
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    raise ValueError(f"WebP without a VP8, VP8L or VP8X chunk (it has {chunk!r})")


def _jpeg_dimensions(handle: BinaryIO) -> tuple[int, int]:
    handle.seek(2)  # after SOI
    while True:
        # Bytes before a marker are skipped, as libjpeg does (some writers leave a few).
        while True:
            start, block = handle.tell(), handle.read(4096)
            if not block:
                raise ValueError("JPEG cut short before its frame header")
            found = block.find(b"\xff")
            if found >= 0:
                handle.seek(start + found + 1)
                break
        marker = b"\xff"
        while marker == b"\xff":  # fill bytes
            marker = handle.read(1)
        if not marker:
            raise ValueError("JPEG cut short before its frame header")
        code = marker[0]
        if code in _JPEG_STANDALONE:
            continue
        if code in (0xD9, 0xDA):
            raise ValueError("JPEG without a frame header (SOF) before its scan")
        length_bytes = handle.read(2)
        if len(length_bytes) < 2:
            raise ValueError("JPEG cut short before its frame header")
        length = struct.unpack(">H", length_bytes)[0]
        if length < 2:
            raise ValueError(f"a JPEG marker segment of length {length}")
        if code in _JPEG_FRAMES:
            frame = handle.read(5)
            if len(frame) < 5:
                raise ValueError("JPEG cut short in its frame header")
            height, width = struct.unpack(">HH", frame[1:5])
            return width, height
        handle.seek(length - 2, io.SEEK_CUR)


def pixel_limit_problem(width: int, height: int, max_pixels: int, pixels: int | None = None) -> str | None:
    """The sentence refusing a `width` x `height` image over `max_pixels`, or None.
    `pixels`: what decoding it costs, if not width x height (a GIF's frames)."""
    pixels = width * height if pixels is None else pixels
    if pixels <= max_pixels:
        return None
    size = f"{width}x{height}" + (" = " if pixels == width * height else " whose frames hold ")
    return f"image of {size}{pixels} pixels is over the limit of {max_pixels} pixels (--max-image-pixels)"


def check_max_pixels(max_pixels: int) -> int:
    """`max_pixels` if it is a positive int; else ValueError naming `--max-image-pixels`."""
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ValueError(f"--max-image-pixels must be a positive number of pixels, got {max_pixels!r}")
    return max_pixels


# -- the same in a TensorFlow graph ------------------------------------------------------------


def image_dimensions_tensor(data):
    """int64 `[height, width]` of one encoded image (a scalar string tensor), from its header,
    in the graph; `[0, 0]` for bytes of no known format (the decoder then names the problem).

    A JPEG's size comes from `tf.image.extract_jpeg_shape` (libjpeg reads the markers up to the
    frame header, not the scans); the other formats' fields lie in the first 32 bytes.
    """
    import tensorflow as tf

    padded = tf.strings.substr(tf.strings.join([data, tf.constant(bytes(_HEAD_BYTES))]), 0, _HEAD_BYTES)
    head = tf.cast(tf.io.decode_raw(padded, tf.uint8, fixed_length=_HEAD_BYTES), tf.int64)

    def starts_with(signature: bytes, at: int = 0):
        return tf.equal(tf.strings.substr(padded, at, len(signature)), signature)

    def number(start: int, count: int, big_endian: bool = False):
        places = range(count) if big_endian else reversed(range(count))
        value = tf.constant(0, tf.int64)
        for index in places:
            value = value * 256 + head[start + index]
        return value

    def signed32(value):
        return tf.abs(tf.where(value >= 2**31, value - 2**32, value))

    def jpeg():
        shape = tf.image.extract_jpeg_shape(data, output_type=tf.int64)
        return shape[:2]

    def png():
        # No IHDR chunk first: no size (`[0, 0]`), as `image_dimensions` refuses it.
        size = tf.stack([number(20, 4, True), number(16, 4, True)])
        return tf.where(starts_with(b"IHDR", 12), size, tf.zeros([2], tf.int64))

    def gif():
        return tf.stack([number(8, 2), number(6, 2)])

    def bmp():
        core = tf.equal(number(14, 4), 12)
        return tf.where(
            core,
            tf.stack([number(20, 2), number(18, 2)]),
            tf.stack([signed32(number(22, 4)), signed32(number(18, 4))]),
        )

    def webp():
        vp8l = number(21, 4)
        return tf.case(
            [
                (starts_with(b"VP8X", 12), lambda: tf.stack([number(27, 3) + 1, number(24, 3) + 1])),
                (starts_with(b"VP8L", 12), lambda: tf.stack([(vp8l // 2**14) % 2**14 + 1, vp8l % 2**14 + 1])),
                (starts_with(b"VP8 ", 12), lambda: tf.stack([number(28, 2) % 2**14, number(26, 2) % 2**14])),
            ],
            default=lambda: tf.zeros([2], tf.int64),
        )

    branches = [(starts_with(signature), function) for signature, function in (
        (SIGNATURES["JPEG"][0], jpeg),
        (SIGNATURES["PNG"][0], png),
        (SIGNATURES["GIF"][0], gif),
        (SIGNATURES["GIF"][1], gif),
        (SIGNATURES["BMP"][0], bmp),
    )]
    branches.append((tf.logical_and(starts_with(b"RIFF"), starts_with(b"WEBP", 8)), webp))
    return tf.case(branches, default=lambda: tf.zeros([2], tf.int64))


def gif_frame_pixels_tensor(data):
    """int64: `_gif_frame_pixels` in the graph, for a scalar string tensor holding a GIF.

    One loop step per block or sub-block (at most 255 bytes each): about 4000 steps per MB of
    GIF, about 0.25 s per MB on one core here (bench/bench_limits.py).
    """
    import tensorflow as tf

    raw = tf.io.decode_raw(data, tf.uint8)
    size = tf.size(raw, out_type=tf.int64)

    def byte(index):
        index = tf.cast(index, tf.int64)
        inside = index < size
        return tf.where(inside, tf.cast(tf.gather(raw, tf.minimum(index, size - 1)), tf.int64), 0)

    def color_table(flags):
        return tf.where(flags >= 128, 3 * tf.bitwise.left_shift(tf.constant(2, tf.int64), flags % 8), 0)

    def step(position, total, in_blocks, done):
        # Both cases computed and one kept (tf.where): cheaper per step than a tf.cond.
        value = byte(position)
        descriptor = tf.logical_and(
            tf.logical_not(in_blocks), tf.logical_and(tf.equal(value, 0x2C), position + 10 <= size)
        )
        extension = tf.logical_and(tf.logical_not(in_blocks), tf.equal(value, 0x21))
        area = (byte(position + 5) + 256 * byte(position + 6)) * (byte(position + 7) + 256 * byte(position + 8))
        after_descriptor = position + 10 + color_table(byte(position + 9)) + 1
        next_position = tf.where(
            in_blocks, position + value + 1, tf.where(descriptor, after_descriptor, position + 2)
        )
        return (
            next_position,
            total + tf.where(descriptor, area, 0),
            tf.where(in_blocks, value > 0, tf.logical_or(descriptor, extension)),  # an empty sub-block ends the chain
            tf.logical_and(tf.logical_not(in_blocks), tf.logical_not(tf.logical_or(descriptor, extension))),
        )

    start = 13 + color_table(byte(10))
    state = (start, tf.constant(0, tf.int64), tf.constant(False), tf.constant(False))
    _, total, _, _ = tf.while_loop(
        lambda position, total, in_blocks, done: tf.logical_and(tf.logical_not(done), position < size),
        step,
        state,
        parallel_iterations=1,
    )
    return total


def assert_within_pixels(data, max_pixels: int):
    """An op that fails with INVALID_ARGUMENT "image of WxH = P pixels is over the limit of
    M pixels" when the encoded image `data` (a scalar string tensor) costs more than
    `max_pixels` to decode, by its header (`image_dimensions_tensor`; a GIF's frames by
    `gif_frame_pixels_tensor`); run it before decoding."""
    import tensorflow as tf

    height, width = tf.unstack(image_dimensions_tensor(data))
    area = height * width
    is_gif = tf.equal(tf.strings.substr(data, 0, 3), b"GIF")
    pixels = tf.cond(is_gif, lambda: tf.maximum(area, gif_frame_pixels_tensor(data)), lambda: area)
    # No ']' in the message: servers read an assertion's message up to the first one.
    message = tf.strings.join([
        "image of ", tf.strings.as_string(width), "x", tf.strings.as_string(height),
        tf.where(tf.equal(pixels, area), " = ", " whose frames hold "),
        tf.strings.as_string(pixels), f" pixels is over the limit of {max_pixels} pixels "
        "set at export (--max-image-pixels)",
    ])
    return tf.debugging.Assert(pixels <= max_pixels, [message], name="image_pixel_limit")
