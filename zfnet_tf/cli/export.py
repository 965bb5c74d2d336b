"""`zfnet-tf export`: a trained .keras model to the next verified SavedModel version."""

from __future__ import annotations

import argparse

from zfnet_tf.cli.command import Command
from zfnet_tf.cli.common import add_model_flags, model_from_args, parse_layer
from zfnet_tf.data.headers import DEFAULT_MAX_IMAGE_PIXELS, check_max_pixels


def add_flags(parser: argparse.ArgumentParser) -> None:
    add_model_flags(parser, required=True)
    parser.add_argument("--base-path", required=True, help="the model's folder, e.g. saved_models/zfnet")
    parser.add_argument(
        "--project-layers", type=parse_layer, nargs="+", metavar="LAYER",
        help="layers that get a project_<layer> signature: names (block5_conv3) or ZFNet's 1-5 "
        "(default: ZFNet's 1-5, else the last convolution before each change of map size)",
    )
    parser.add_argument(
        "--max-image-pixels", type=int, default=DEFAULT_MAX_IMAGE_PIXELS, metavar="PIXELS",
        help="classify_bytes and decode_bytes refuse an image of more pixels (width x height, "
        "read from its header) with INVALID_ARGUMENT before decoding it, in any model server "
        f"(default {DEFAULT_MAX_IMAGE_PIXELS} = 64 * 2**20, an 8192x8192 image)",
    )


def run(args: argparse.Namespace) -> int:
    """export a .keras model as a TF Serving SavedModel version

    Writes the next version under --base-path (saved_models/NAME/<N>/) with the signatures
    serving_default, classify_bytes, project_<layer> for each projected layer (ZFNet:
    project_layer1..5) and features, after checking in a fresh process that it reproduces the
    model; prints the version's path.
    """
    from zfnet_tf.export import export_model
    from zfnet_tf.progress import step

    check_max_pixels(args.max_image_pixels)  # before the model is read
    model = model_from_args(args)
    with step(f"exporting a SavedModel version under {args.base_path}"):
        path = export_model(model, args.base_path, layers=args.project_layers, max_image_pixels=args.max_image_pixels)
    print(path)
    return 0


COMMANDS = (Command("export", add_flags, run),)
