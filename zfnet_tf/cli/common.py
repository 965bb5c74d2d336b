"""Flags shared by several commands, and turning them into models and images."""

from __future__ import annotations

import argparse

from typing import TYPE_CHECKING

from zfnet_tf.config import PRESETS

if TYPE_CHECKING:
    import keras
    import numpy as np

    from zfnet_tf.config import ZFNetConfig


def add_model_flags(parser: argparse.ArgumentParser, required: bool = False) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", help="a trained .keras file")
    if not required:
        group.add_argument(
            "--preset",
            choices=sorted(PRESETS),
            help="or a freshly initialized preset (random weights; for trying things out)",
        )
        group.add_argument("--seed", type=int, default=0, help="init seed for --preset")


def add_image_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--images",
        nargs="+",
        metavar="FILE",
        help="image files (JPEG/PNG); default: scikit-image's bundled sample photos",
    )


def model_from_args(args: argparse.Namespace) -> "keras.Model":
    import keras

    from zfnet_tf.models import build_model, load_model

    if getattr(args, "model", None):
        return load_model(args.model)
    if getattr(args, "preset", None):
        keras.utils.set_random_seed(args.seed)
        return build_model(args.preset)
    raise ValueError("give --model PATH.keras (or --preset NAME for random weights)")


def images_from_args(args: argparse.Namespace, config: "ZFNetConfig") -> "tuple[np.ndarray, list[str]]":
    """`--images` (else scikit-image's sample photos) as inputs of a model with `config`."""
    from zfnet_tf.data import load_image_files, sample_images

    size, resize = config.input_size, config.image_resize_size
    if getattr(args, "images", None):
        import os

        return load_image_files(args.images, size, resize), [os.path.basename(p) for p in args.images]
    return sample_images(size, resize_size=resize)
