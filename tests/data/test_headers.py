"""The image-header readers: Python's and the graph's against PIL's sizes, on the same files."""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from support.image_bombs import black_png, encoded, gif_frames, jpeg_claiming, png_claiming
from zfnet_tf.data.headers import (
    assert_within_pixels,
    decoded_pixels,
    image_dimensions_of,
    image_dimensions_tensor,
    pixel_limit_problem,
)

FORMATS = {
    "jpeg": ("JPEG", {}),
    "progressive jpeg": ("JPEG", {"progressive": True}),
    "jpeg with exif": ("JPEG", {"exif": b"Exif\0\0" + bytes(3000)}),
    "png": ("PNG", {}),
    "gif": ("GIF", {}),
    "bmp": ("BMP", {}),
    "webp (VP8)": ("WEBP", {}),
    "webp (VP8L)": ("WEBP", {"lossless": True}),
    "webp (VP8X)": ("WEBP", {"exif": b"Exif\0\0" + bytes(20)}),
}
SIZES = [(1, 1), (7, 5), (17, 300), (1000, 3), (257, 129)]


def graph_size(data: bytes) -> tuple[int, int]:
    height, width = image_dimensions_tensor(tf.constant(data)).numpy()
    return int(width), int(height)


@pytest.mark.parametrize("name", list(FORMATS))
def test_both_readers_give_pils_size_for_every_format(name):
    fmt, options = FORMATS[name]
    for index, (width, height) in enumerate(SIZES):
        data = encoded(fmt, width, height, seed=index, **options)
        reference = Image.open(io.BytesIO(data)).size
        assert reference == (width, height)
        kind, *python = image_dimensions_of(data)
        assert kind.upper() == fmt
        assert tuple(python) == reference, (name, width, height)
        assert graph_size(data) == reference, (name, width, height)


def test_bmp_stored_top_down_has_its_height_positive():
    data = bytearray(encoded("BMP", 9, 4))
    data[22:26] = (-4).to_bytes(4, "little", signed=True)  # a top-down BMP
    assert image_dimensions_of(bytes(data))[1:] == (9, 4)
    assert graph_size(bytes(data)) == (9, 4)
    assert tf.io.decode_image(bytes(data), channels=3).shape == (4, 9, 3)


@pytest.mark.parametrize("bomb, size", [
    (lambda: black_png(20000, 20000), (20000, 20000)),
    (lambda: png_claiming(100000, 90000), (100000, 90000)),
    (lambda: jpeg_claiming(65000, 64000), (65000, 64000)),
])
def test_bombs_are_measured_from_their_headers(bomb, size):
    data = bomb()
    assert len(data) < 400_000  # small files ...
    assert image_dimensions_of(data)[1:] == size  # ... claiming huge images
    assert graph_size(data) == size
    if size == (20000, 20000):  # the real one: PIL reads the same header
        Image.MAX_IMAGE_PIXELS, previous = None, Image.MAX_IMAGE_PIXELS
        try:
            assert Image.open(io.BytesIO(data)).size == size
        finally:
            Image.MAX_IMAGE_PIXELS = previous


@pytest.mark.parametrize("data, problem", [
    (b"GIF89a", None),  # short files read as zeros in both readers
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG cut short"),
    (b"\xff\xd8\xff\xda\x00\x02", "JPEG without a frame header"),
    (b"RIFF\0\0\0\0WEBPVP9 " + bytes(20), "WebP without a VP8"),
    (b"\x89PNG\r\n\x1a\n not really a png, 32 bytes+", "broken PNG header"),
])
def test_broken_headers(data, problem):
    if problem is None:
        assert image_dimensions_of(data)[1:] == (0, 0)
        assert graph_size(data) == (0, 0)
    else:
        with pytest.raises(ValueError, match=problem):
            image_dimensions_of(data)
        if data.startswith(b"\x89PNG"):  # no IHDR chunk: no size in the graph either
            assert graph_size(data) == (0, 0)


def test_unknown_bytes_have_no_size_in_the_graph_and_no_format_in_python():
    assert graph_size(b"just some text") == (0, 0)
    with pytest.raises(ValueError, match="not a JPEG, PNG, GIF, BMP or WebP image"):
        image_dimensions_of(b"just some text")


def test_the_graph_assertion_names_the_size_and_the_limit():
    small = encoded("PNG", 30, 20)
    assert_within_pixels(tf.constant(small), 600)  # exactly at the limit: no error
    with pytest.raises(tf.errors.InvalidArgumentError) as caught:
        assert_within_pixels(tf.constant(small), 599)
    assert "image of 30x20 = 600 pixels is over the limit of 599 pixels" in caught.value.message
    assert pixel_limit_problem(30, 20, 599) == (
        "image of 30x20 = 600 pixels is over the limit of 599 pixels (--max-image-pixels)"
    )
    assert pixel_limit_problem(30, 20, 600) is None


def test_the_graph_reader_works_inside_a_batched_function():
    batch = [encoded("PNG", 5, 6), encoded("JPEG", 40, 9), encoded("WEBP", 3, 11), b"??"]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def sizes(data):
        return tf.map_fn(image_dimensions_tensor, data, fn_output_signature=tf.int64)

    assert np.array_equal(sizes(tf.constant(batch)).numpy(), [[6, 5], [9, 40], [11, 3], [0, 0]])


def checked(data, max_pixels):
    """`data` once `assert_within_pixels` passes, in a graph (as in the signatures)."""

    @tf.function
    def check(data):
        with tf.control_dependencies([assert_within_pixels(data, max_pixels)]):
            return tf.identity(data)

    return check(data)


def graph_gif_pixels(data: bytes) -> int:
    from zfnet_tf.data.headers import gif_frame_pixels_tensor

    return int(tf.function(gif_frame_pixels_tensor, input_signature=[tf.TensorSpec([], tf.string)])(data))


@pytest.mark.parametrize("width, height, frames", [(30, 20, 1), (30, 20, 7), (2000, 2000, 100)])
def test_a_gifs_cost_counts_every_frame(width, height, frames):
    """TensorFlow's GIF decoder reads every frame even for the first alone: both readers sum
    the frames' sizes, as PIL counts the frames."""
    data = gif_frames(width, height, frames)
    image = Image.open(io.BytesIO(data))
    assert (image.size, image.n_frames) == ((width, height), frames)
    assert decoded_pixels(io.BytesIO(data)) == (width, height, width * height * frames)
    assert graph_gif_pixels(data) == width * height * frames
    if frames == 100:
        assert len(data) < 400_000
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match="image of 2000x2000 whose frames hold 400000000 pixels is over the limit of 67108864"):
            checked(tf.constant(data), 64 * 2**20)
    else:
        assert tf.io.decode_image(data).shape == (frames, height, width, 3)


def test_an_animated_gif_of_other_frame_sizes_is_summed_frame_by_frame():
    frames = [Image.fromarray(np.random.default_rng(i).integers(0, 255, (20 + 10 * i, 40), dtype=np.uint8))
              for i in range(4)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], disposal=1, optimize=False)
    data = buffer.getvalue()
    image = Image.open(io.BytesIO(data))
    expected = 0
    for index in range(image.n_frames):  # PIL's own parse of each frame's descriptor
        image.seek(index)
        left, top, right, bottom = image.dispose_extent if hasattr(image, "dispose_extent") else (0, 0, *image.size)
        expected += (right - left) * (bottom - top)
    assert decoded_pixels(io.BytesIO(data))[2] == graph_gif_pixels(data) == expected
