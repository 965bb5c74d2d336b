"""The exported signatures refuse image bombs by their headers, under `tf.saved_model.load`
alone (what `tensorflow_model_server` runs), before decoding them (DESIGN.md §16)."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from support.exports import loaded_saved_model, small_convnet
from support.hostile_requests import memory_kib, reset_peak_memory
from support.image_bombs import black_png, encoded, gif_frames, jpeg_claiming, png_claiming
from zfnet_tf.data import resize_to_square
from zfnet_tf.data.headers import DEFAULT_MAX_IMAGE_PIXELS
from zfnet_tf.export import build_export_archive
from zfnet_tf.export.layout import IMAGE_TRANSFORM_FILE


def peak_memory_kib() -> int:
    """This process's peak resident memory (VmHWM) since the last `reset_peak_memory`."""
    return memory_kib(os.getpid())["VmHWM"]


BOMBS = {  # bytes, and what the refusal says of them
    "20000x20000 black PNG (real)": (lambda: black_png(20000, 20000), "20000x20000 = 400000000"),
    "PNG header claiming 100000x90000": (lambda: png_claiming(100000, 90000), "100000x90000 = 9000000000"),
    "JPEG header claiming 65000x64000": (lambda: jpeg_claiming(65000, 64000), "65000x64000 = 4160000000"),
    "GIF of 100 frames of 2000x2000 (real)": (
        lambda: gif_frames(2000, 2000, 100), "2000x2000 whose frames hold 400000000"
    ),
}


@pytest.fixture(scope="module")
def loaded(tiny_export):
    return loaded_saved_model(tiny_export[1] / "1")


@pytest.mark.parametrize("signature", ["classify_bytes", "decode_bytes"])
@pytest.mark.parametrize("bomb", list(BOMBS))
def test_a_bomb_is_refused_naming_its_size_and_the_limit(loaded, signature, bomb):
    data, size = BOMBS[bomb][0](), BOMBS[bomb][1]
    good = encoded("PNG", 80, 70)
    loaded.signatures[signature](image_bytes=tf.constant([good]))  # its first call's allocations
    reset_peak_memory(os.getpid())
    before = peak_memory_kib()
    with pytest.raises(tf.errors.InvalidArgumentError) as caught:
        loaded.signatures[signature](image_bytes=tf.constant([good, data]))
    assert (
        f"image of {size} pixels is over the limit of "
        f"{DEFAULT_MAX_IMAGE_PIXELS} pixels set at export (--max-image-pixels)"
    ) in caught.value.message
    # Refused before decoding: the PNG alone would take 1.2 GB as RGB, the GIF 0.4 GB.
    assert peak_memory_kib() - before < 150 * 1024


def test_the_largest_image_the_default_limit_lets_through_costs_a_fraction_of_a_gigabyte(loaded):
    """8192 x 8192 = 64 * 2**20 pixels: decoded (0.2 GB as RGB) and resized as uint8, never
    copied to float32 whole (that copy alone would be 0.8 GB)."""
    largest = black_png(8192, 8192)
    loaded.signatures["decode_bytes"](image_bytes=tf.constant([encoded("PNG", 80, 70)]))
    reset_peak_memory(os.getpid())
    before = peak_memory_kib()
    pixels = loaded.signatures["decode_bytes"](image_bytes=tf.constant([largest]))["pixels"].numpy()
    grown = peak_memory_kib() - before
    print(f"decode_bytes of an 8192x8192 PNG: peak +{grown / 1024:.0f} MiB")
    assert pixels.shape == (1, 64, 64, 3) and not pixels.any()
    assert grown < 450 * 1024


def test_the_limit_is_recorded_in_the_exports_metadata(tiny_export):
    with open(tiny_export[1] / "1" / IMAGE_TRANSFORM_FILE, encoding="utf-8") as handle:
        assert json.load(handle)["max_image_pixels"] == DEFAULT_MAX_IMAGE_PIXELS == 64 * 2**20


def test_a_limit_set_at_export_holds_exactly(tmp_path):
    """An export with a limit of 100 x 90 pixels: an image of exactly that many decodes as
    the data pipeline prepares it, one pixel more is refused, in every format."""
    limit = 100 * 90
    # A small convnet (32 x 32) with one projected layer: the limit is on the signatures that
    # decode, not on the model or its projections.
    model = small_convnet()
    archive = build_export_archive(model, layers=["edges"], max_image_pixels=limit)
    archive.write_out(str(tmp_path / "1"), verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "1"))
    decode = loaded.signatures["decode_bytes"]
    for fmt in ("PNG", "JPEG", "GIF", "BMP", "WEBP"):
        at_limit = encoded(fmt, 100, 90)
        pixels = decode(image_bytes=tf.constant([at_limit]))["pixels"].numpy()
        reference = resize_to_square(tf.io.decode_image(at_limit, channels=3, expand_animations=False), 32)
        np.testing.assert_array_equal(pixels[0], np.round(reference.numpy()).astype(np.int32), err_msg=fmt)
        for width, height in ((101, 90), (90, 101)):
            with pytest.raises(tf.errors.InvalidArgumentError, match=f"image of {width}x{height} = {width * height} "
                               f"pixels is over the limit of {limit} pixels"):
                decode(image_bytes=tf.constant([encoded(fmt, width, height)]))
    with pytest.raises(ValueError, match="--max-image-pixels must be a positive number of pixels, got 0"):
        build_export_archive(model, max_image_pixels=0)


def test_bytes_of_no_image_format_still_get_the_decoders_error(loaded):
    with pytest.raises(tf.errors.InvalidArgumentError, match="Unknown image file format"):
        loaded.signatures["classify_bytes"](image_bytes=tf.constant([b"not an image"]))
