"""The check that finds unreadable images, against TensorFlow's own decoder as the reference."""

import glob
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from zfnet_tf.data import SkippedFilesWarning, check_images
from zfnet_tf.data.checks import image_problem


def encoded(fmt, size=(48, 40), seed=0, **options):
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt, **options)
    return buffer.getvalue()


def tensorflow_decodes(data: bytes) -> bool:
    try:
        tf.io.decode_image(data, channels=3, expand_animations=False)
        return True
    except tf.errors.InvalidArgumentError:
        return False


JPEG, PROGRESSIVE, PNG, GIF, BMP = (
    encoded("JPEG"), encoded("JPEG", progressive=True), encoded("PNG"), encoded("GIF"), encoded("BMP")
)
CASES = {
    # readable: each format, and a JPEG with bytes appended after its end (cameras do that)
    "jpeg": (JPEG, None),
    "progressive jpeg": (PROGRESSIVE, None),
    "png": (PNG, None),
    "gif": (GIF, None),
    "bmp": (BMP, None),
    "webp": (encoded("WEBP"), None),
    "lossless webp": (encoded("WEBP", lossless=True), None),
    "jpeg + trailing bytes": (JPEG + b"\0EXTRA" * 50, None),
    # unreadable
    "jpeg cut in half": (JPEG[: len(JPEG) // 2], "truncated JPEG"),
    "jpeg without its last 10 bytes": (JPEG[:-10], "truncated JPEG"),
    "progressive jpeg cut": (PROGRESSIVE[: len(PROGRESSIVE) // 2], "truncated JPEG"),
    "jpeg with a zeroed header": (JPEG[:3] + bytes(200) + JPEG[203:], "broken JPEG header"),
    "png cut": (PNG[: len(PNG) // 2], "PNG"),
    "png with a flipped byte": (PNG[:900] + bytes([PNG[900] ^ 0xFF]) + PNG[901:], "corrupt PNG"),
    "bmp cut": (BMP[: len(BMP) // 2], "truncated BMP"),
    "gif cut": (GIF[: len(GIF) // 2], "truncated GIF"),
    "text": (b"just some text", "not a JPEG, PNG, GIF, BMP or WebP image"),
    "empty": (b"", "empty file"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_check_agrees_with_tensorflows_decoder(name):
    data, expected = CASES[name]
    problem = image_problem(io.BytesIO(data))
    # The reference: what the pipelines' decoder does with the same bytes.
    assert (problem is None) == tensorflow_decodes(data), problem
    if expected is None:
        assert problem is None
    else:
        assert expected in problem


def test_files_are_skipped_with_one_warning_naming_each(unreadable_class_folder):
    root, bad = unreadable_class_folder

    paths = sorted(glob.glob(f"{root}/*/*.jpg"))
    with pytest.warns(SkippedFilesWarning) as caught:
        usable, skipped = check_images(paths, paths, what="the cats and dogs")
    (message,) = [str(w.message) for w in caught]
    assert message.startswith("skipped 3 file(s) of the cats and dogs")
    assert [s.path for s in skipped] == list(bad.values())
    for path in bad.values():
        assert path in message
    assert [paths[i] for i in usable] == [p for p in paths if p not in bad.values()]
    reasons = {s.path: s.reason for s in skipped}
    assert reasons[bad["truncated"]].startswith("truncated JPEG")
    assert reasons[bad["broken"]].startswith("broken JPEG header")
    assert reasons[bad["not an image"]].startswith("not a JPEG, PNG, GIF, BMP or WebP image")


def test_strict_fails_on_the_first_bad_file_naming_it(unreadable_class_folder):
    root, bad = unreadable_class_folder

    paths = sorted(glob.glob(f"{root}/*/*.jpg"))
    with pytest.raises(ValueError, match=f"^{bad['broken']}: broken JPEG header .*strict"):
        check_images(paths, paths, strict=True)


def test_a_limit_reads_only_what_it_needs(tmp_path):
    """With a limit, files after the first `limit` usable ones are neither read nor reported."""
    items = [JPEG, b"bad", JPEG, JPEG] + [b"never read"] * 500
    names = [f"image {i}" for i in range(len(items))]
    with pytest.warns(SkippedFilesWarning):
        usable, skipped = check_images(items, names, limit=3)
    assert usable == [0, 2, 3]
    assert [s.path for s in skipped] == ["image 1"]
    with pytest.raises(ValueError, match="the data has no readable images"):
        with pytest.warns(SkippedFilesWarning):
            check_images([b"x", b""], ["a", "b"])


# -- images over the pixel limit (DESIGN.md §16) ----------------------------------------------


def test_an_image_over_the_pixel_limit_is_skipped_by_its_header_and_named(tmp_path):
    from support.image_bombs import black_png, gif_frames, jpeg_claiming

    from zfnet_tf.data.headers import DEFAULT_MAX_IMAGE_PIXELS

    bomb = black_png(20000, 20000)  # 0.39 MB; 1.2 GB as RGB
    items = [JPEG, bomb, jpeg_claiming(9000, 8000), PNG, gif_frames(2000, 2000, 20)]
    names = ["ok.jpg", "bomb.png", "claims.jpg", "ok.png", "frames.gif"]
    with pytest.warns(SkippedFilesWarning, match="over the pixel limit") as caught:
        usable, skipped = check_images(items, names)
    assert usable == [0, 3]
    assert {s.path: s.reason for s in skipped} == {
        "bomb.png": f"image of 20000x20000 = 400000000 pixels is over the limit of "
                    f"{DEFAULT_MAX_IMAGE_PIXELS} pixels (--max-image-pixels)",
        "claims.jpg": f"image of 9000x8000 = 72000000 pixels is over the limit of "
                      f"{DEFAULT_MAX_IMAGE_PIXELS} pixels (--max-image-pixels)",
        "frames.gif": f"image of 2000x2000 whose frames hold 80000000 pixels is over the limit of "
                      f"{DEFAULT_MAX_IMAGE_PIXELS} pixels (--max-image-pixels)",
    }
    (message,) = [str(w.message) for w in caught]
    assert "bomb.png: image of 20000x20000" in message and "claims.jpg" in message
    # A limit of one's own: the 48 x 40 images pass at exactly their size and not below it.
    assert check_images([JPEG, PNG], ["a", "b"], max_pixels=48 * 40)[0] == [0, 1]
    with pytest.raises(ValueError, match=r"^a: image of 48x40 = 1920 pixels is over the limit of 1919 .*strict"):
        check_images([JPEG, PNG], ["a", "b"], max_pixels=48 * 40 - 1, strict=True)


def test_a_folder_source_skips_an_image_bomb_and_reports_it(tmp_path):
    """Through a data source: the bomb is left out of the examples and listed as skipped (what
    every command's JSON reports); with strict it is an error naming it."""
    from support.image_bombs import black_png

    from zfnet_tf.data import DataSource, image_collection

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for index in range(2):
            (tmp_path / name / f"{index}.png").write_bytes(PNG)
    (tmp_path / "b" / "bomb.png").write_bytes(black_png(20000, 20000))
    source = DataSource("folder", str(tmp_path), split="all")
    with pytest.warns(SkippedFilesWarning):
        collection = image_collection(source)
    assert len(collection) == 4
    assert [(s.path, s.reason.split(" is over")[0]) for s in collection.skipped] == [
        (str(tmp_path / "b" / "bomb.png"), "image of 20000x20000 = 400000000 pixels")
    ]
    with pytest.raises(ValueError, match="bomb.png: image of 20000x20000"):
        image_collection(source.replace(strict=True))
    # A higher limit lets it through the check (it is a valid PNG).
    assert len(image_collection(source.replace(max_image_pixels=20000 * 20000))) == 5
    with pytest.raises(ValueError, match="--max-image-pixels must be a positive number of pixels, got 0"):
        source.replace(max_image_pixels=0)
