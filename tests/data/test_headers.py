"""The image-header readers: Python's and the graph's against PIL's sizes, on the same files."""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from image_bombs import black_png, encoded, jpeg_claiming, png_claiming
from zfnet_tf.data.headers import (
    assert_within_pixels,
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
])
def test_broken_headers(data, problem):
    if problem is None:
        assert image_dimensions_of(data)[1:] == (0, 0)
        assert graph_size(data) == (0, 0)
    else:
        with pytest.raises(ValueError, match=problem):
            image_dimensions_of(data)


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
