"""`--max-image-pixels` on the commands that read images: an image bomb is named and refused
from its header, never decoded (DESIGN.md §16)."""

import pytest

from support.image_bombs import black_png, encoded
from zfnet_tf.cli.common import data_source_from_args
from zfnet_tf.cli.main import build_parser, main
from zfnet_tf.data.headers import DEFAULT_MAX_IMAGE_PIXELS


@pytest.mark.parametrize("command", [
    ["top9", "--preset", "tiny", "--out", "x"],
    ["evaluate", "--model", "m.keras"],
    ["train", "--preset", "tiny", "--model-dir", "x"],
    ["transfer", "--preset", "tiny", "--out", "x"],
    ["layer-features", "--preset", "tiny", "--out", "x"],
])
def test_every_data_command_takes_the_flag(command):
    parser = build_parser()
    assert data_source_from_args(parser.parse_args([*command, "--dataset", "digits"])).max_image_pixels == (
        DEFAULT_MAX_IMAGE_PIXELS
    )
    args = parser.parse_args([*command, "--dataset", "digits", "--max-image-pixels", "1000"])
    assert data_source_from_args(args).max_image_pixels == 1000


def test_an_images_file_over_the_limit_is_an_error_naming_it(tmp_path, capsys):
    bomb, photo = tmp_path / "bomb.png", tmp_path / "photo.png"
    bomb.write_bytes(black_png(20000, 20000))
    photo.write_bytes(encoded("PNG", 80, 60))
    status = main(["project", "--preset", "tiny", "--layer", "1", "--images", str(photo), str(bomb),
                   "--out", str(tmp_path / "out")])
    assert status == 2
    assert (f"zfnet-tf project: error: {bomb}: image of 20000x20000 = 400000000 pixels is over the limit of "
            f"{DEFAULT_MAX_IMAGE_PIXELS} pixels (--max-image-pixels)") in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_export_refuses_a_limit_that_is_not_positive(capsys):
    assert main(["export", "--model", "m.keras", "--base-path", "x", "--max-image-pixels", "0"]) == 2
    assert "--max-image-pixels must be a positive number of pixels, got 0" in capsys.readouterr().err
