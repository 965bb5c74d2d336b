"""Flags shared by several commands, and turning them into models and images."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING, Callable

from zfnet_tf.config import PRESETS
from zfnet_tf.data.catalog import DATASETS, DataSource
from zfnet_tf.data.headers import DEFAULT_MAX_IMAGE_PIXELS

if TYPE_CHECKING:
    import keras
    import numpy as np

DATASET_HELP = (
    "digits: scikit-learn's handwritten digits, embedded (no download); folder: --data-dir of "
    "class sub-folders, or of train/ and val/ folders of them; caltech101: a "
    "101_ObjectCategories/ folder or its parent as --data-dir, else TFDS caltech101 with "
    "--data-dir as TFDS data dir (BACKGROUND_Google left out); caltech256: a "
    "256_ObjectCategories/ folder or its parent (257.clutter left out); imagenet2012: TFDS, "
    "--data-dir = the manual download folder. Caltech's train/test: up to 30 (101) or 60 (256) "
    "random images a class, and the rest"
)


def _bounded(convert: Callable[[str], float], lowest: float, allowed: bool, what: str) -> Callable[[str], float]:
    """An argparse `type`: `convert(text)`, finite, at least `lowest` (`allowed`: may equal it);
    else argparse's one-line error naming the flag, exit 2."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if not math.isfinite(value) or value < lowest or (value == lowest and not allowed):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return value

    parse.__name__ = what
    return parse


# The numeric flags of every command are read by one of these.
positive_int = _bounded(int, 0, False, "a positive integer")
non_negative_int = _bounded(int, 0, True, "an integer >= 0")
positive_float = _bounded(float, 0.0, False, "a positive number")
non_negative_float = _bounded(float, 0.0, True, "a number >= 0")


def add_model_flags(parser: argparse.ArgumentParser, required: bool = False) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", help="a trained .keras file (a ZFNet or any Keras convnet)")
    group.add_argument(
        "--keras-application",
        metavar="NAME",
        help="or a keras.applications network, e.g. VGG16 or ResNet50 (RGB 0-255 in, logits out)",
    )
    group.add_argument(
        "--weights",
        choices=("auto", "imagenet", "none"),
        default="auto",
        help="weights of --keras-application: imagenet (Keras downloads them once), none "
        "(random), auto (default: imagenet if Keras can get them, else random, with a notice)",
    )
    group.add_argument("--input-size", type=positive_int, default=224, help="input side of --keras-application")
    group.add_argument(
        "--pretrained",
        metavar="NAME",
        help="or a published ImageNet network, converted on the fly (zfnet_tf.pretrained): "
        "efficientnet_lite0 (weights ship with the pretrained extra: offline), zfnet, zfnetb "
        "(fetched once by pytorchcv); `zfnet-tf pretrained NAME --out FILE.keras` keeps it",
    )
    if not required:
        group.add_argument(
            "--preset",
            choices=sorted(PRESETS),
            help="or a freshly initialized preset (random weights; for trying things out)",
        )
    group.add_argument("--seed", type=non_negative_int, default=0, help="init seed for random weights")


def add_data_flags(
    parser: argparse.ArgumentParser,
    required: bool = False,
    default: str | None = None,
    choices: tuple[str, ...] = DATASETS,
) -> argparse._ArgumentGroup:
    """`--dataset`, `--data-dir`, `--exclude-file`, `--include-background`, `--strict`: the
    fields of a `zfnet_tf.data.DataSource` (`data_source_from_args`). Returns the group, for a
    command's own data flags."""
    group = parser.add_argument_group("data")
    group.add_argument("--dataset", choices=choices, required=required, default=default, help=DATASET_HELP)
    group.add_argument("--data-dir", help="where the dataset is (see --dataset)")
    group.add_argument("--exclude-file",
                       help="file of image names to leave out, one a line (class/file or file), "
                       "e.g. Caltech images that also occur in ImageNet")
    group.add_argument("--include-background", action="store_true",
                       help="caltech101: count BACKGROUND_Google as a 102nd class")
    group.add_argument("--strict", action="store_true",
                       help="a file that is not a readable image (corrupt, truncated, not an "
                       "image) is an error naming it; by default it is skipped, named in a "
                       "warning and counted in the JSON output")
    add_max_pixels_flag(group)
    return group


def add_max_pixels_flag(group) -> None:
    """`--max-image-pixels`, once per parser (the data and the image flags both take it)."""
    if "--max-image-pixels" in group._option_string_actions:  # shared with the parser's groups
        return
    group.add_argument("--max-image-pixels", type=int, default=DEFAULT_MAX_IMAGE_PIXELS, metavar="PIXELS",
                       help="an image of more pixels (width x height, read from its header) is "
                       "skipped and named like an unreadable one (--strict: an error), never decoded "
                       f"(default {DEFAULT_MAX_IMAGE_PIXELS} = 64 * 2**20)")


def data_source_from_args(
    args: argparse.Namespace, split: str | None = None, limit: int | None = None
) -> DataSource:
    """The data flags as a `DataSource` (`split`: default `--split`, else "test")."""
    return DataSource(
        args.dataset,
        data_dir=args.data_dir,
        split=split or getattr(args, "split", None) or "test",
        limit=limit,
        strict=args.strict,
        exclude_file=args.exclude_file,
        include_background=args.include_background,
        max_image_pixels=args.max_image_pixels,
    )


def parse_layer(text: str) -> int | str:
    """A `--layer` value: a ZFNet layer number (1-5) or a layer name (`block5_conv3`)."""
    return int(text) if text.strip().lstrip("-").isdigit() else text


def add_image_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--images",
        nargs="+",
        metavar="FILE",
        help="image files (JPEG/PNG); default: scikit-image's bundled sample photos",
    )
    add_max_pixels_flag(parser)


def model_from_args(args: argparse.Namespace) -> "keras.Model":
    import keras

    from zfnet_tf.models import build_model, load_model

    flags = ("model", "keras_application", "pretrained", "preset")
    chosen = [flag for flag in flags if getattr(args, flag, None)]
    if len(chosen) > 1:
        given = ", ".join("--" + flag.replace("_", "-") for flag in chosen)
        raise ValueError(f"give one of --model, --keras-application, --pretrained, --preset (got {given})")
    if getattr(args, "model", None):
        return load_model(args.model)
    if getattr(args, "pretrained", None):
        import sys

        from zfnet_tf.models.pretrained import pretrained

        return pretrained(args.pretrained, progress=lambda line: print(line, file=sys.stderr, flush=True))
    keras.utils.set_random_seed(getattr(args, "seed", 0))
    if getattr(args, "keras_application", None):
        return application_from_args(args)
    if getattr(args, "preset", None):
        return build_model(args.preset)
    raise ValueError(
        "give --model PATH.keras, --keras-application NAME, --pretrained NAME (or --preset NAME for "
        "random weights)"
    )


def application_from_args(args: argparse.Namespace) -> "keras.Model":
    """`--keras-application NAME --weights auto|imagenet|none --input-size S` as a model
    (`zfnet_tf.models.keras_application`)."""
    from zfnet_tf.models import keras_application

    weights = None if args.weights == "none" else args.weights
    return keras_application(args.keras_application, weights, args.input_size)


def images_from_args(args: argparse.Namespace, model: "keras.Model") -> "tuple[np.ndarray, list[str]]":
    """`--images` (else scikit-image's sample photos) as inputs of `model`, through its
    evaluation transform (`zfnet_tf.models.image_transform`)."""
    from zfnet_tf.data import load_image_files, sample_images
    from zfnet_tf.models import image_transform

    size, resize = image_transform(model)
    if getattr(args, "images", None):
        import os

        return (
            load_image_files(args.images, size, resize, max_pixels=args.max_image_pixels),
            [os.path.basename(p) for p in args.images],
        )
    return sample_images(size, resize_size=resize)
