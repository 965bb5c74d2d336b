"""`zfnet-tf project`: deconvnet projections of layers 1-5 for some images."""

from __future__ import annotations

import argparse

from zfnet_tf.cli.common import add_image_flags, add_model_flags, images_from_args, model_from_args


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "project",
        help="project layer activations back to pixels (paper Sec. 2.1)",
        description="Writes projections.png and projections.json to --out.",
    )
    add_model_flags(parser)
    add_image_flags(parser)
    parser.add_argument("--layers", type=int, nargs="+", choices=range(1, 6), metavar="L",
                        help="layers to project (default: all the model has)")
    parser.add_argument("--feature", type=int, default=-1,
                        help="feature map to project; -1: each image's strongest (default)")
    parser.add_argument("--mode", choices=("max", "map"), default="max",
                        help="max: the map's strongest activation alone; map: the whole map")
    parser.add_argument("--out", required=True, help="output folder")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from zfnet_tf.deconv.figures import write_layer_projections
    from zfnet_tf.models import get_backbone

    model = model_from_args(args)
    images, names = images_from_args(args, get_backbone(model).config)
    numbers = write_layer_projections(
        model, images, names, args.out, layers=args.layers, feature=args.feature, mode=args.mode
    )
    print(f"wrote {numbers['figure']}")
    return 0
