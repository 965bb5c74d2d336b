"""`zfnet-tf project`: deconvnet projections of a model's layers for some images."""

from __future__ import annotations

import argparse

from zfnet_tf.cli.command import Command
from zfnet_tf.cli.common import add_image_flags, add_model_flags, images_from_args, model_from_args, parse_layer


def add_flags(parser: argparse.ArgumentParser) -> None:
    add_model_flags(parser)
    add_image_flags(parser)
    parser.add_argument("--layers", type=parse_layer, nargs="+", metavar="LAYER",
                        help="layer names (block5_conv3), or ZFNet's 1-5 (default: ZFNet's 1-5, "
                        "else the last convolution before each change of map size)")
    parser.add_argument("--feature", type=int, default=-1,
                        help="feature map to project; -1: each image's strongest (default)")
    parser.add_argument("--mode", choices=("max", "map"), default="max",
                        help="max: the map's strongest activation alone; map: the whole map")
    parser.add_argument("--rule", choices=("deconvnet", "guided", "gradient"), default="deconvnet",
                        help="deconvnet (Zeiler & Fergus), guided (guided backpropagation) or "
                        "gradient (a saliency map)")
    parser.add_argument("--contrast", type=float, default=100.0, metavar="PERCENTILE",
                        help="percentile of each projection's magnitudes drawn at full contrast "
                        "(default 100: its largest, as the paper; 99.5 shows deep networks' faint "
                        "structure under a few extreme pixels)")
    parser.add_argument("--out", required=True, help="output folder")


def run(args: argparse.Namespace) -> int:
    """project layer activations back to pixels (paper Sec. 2.1)

    Writes projections.png and projections.json to --out.
    """
    from zfnet_tf.analysis import AnalysisData, Projections, ProjectionsParams

    params = ProjectionsParams(layers=args.layers, feature=args.feature, mode=args.mode, rule=args.rule,
                              contrast=args.contrast)
    model = model_from_args(args)
    projections = Projections(model, params)  # checks the layers before the images are read
    images, names = images_from_args(args, model)
    source = "images" if args.images else "sample photos"
    record = projections.run(AnalysisData.from_arrays(images, image_names=names, source=source)).save(args.out)
    print(f"wrote {record['files'][0]}")
    return 0


COMMANDS = (Command("project", add_flags, run),)
