"""`zfnet-tf report`: every analysis of one model on one static page (index.html + report.json)."""

from __future__ import annotations

import argparse
import os

from zfnet_tf.cli.command import Command
from zfnet_tf.cli.common import (
    add_data_flags,
    add_image_flags,
    add_model_flags,
    data_source_from_args,
    model_from_args,
    parse_layer,
)


def add_flags(parser: argparse.ArgumentParser) -> None:
    add_model_flags(parser)
    group = add_data_flags(parser)
    group.add_argument("--split", choices=("train", "test"), default="test",
                       help="the split scanned for the top-9 (default test)")
    add_image_flags(parser)
    parser.add_argument("--boxes", help="JSON or CSV file of part boxes (zfnet-tf correspondence's format)")
    parser.add_argument("--images-swept", type=int, default=3, metavar="N",
                        help="images for occlusion and invariance (default 3)")
    parser.add_argument("--top9-layers", type=parse_layer, nargs="+", metavar="LAYER",
                        help="layers whose top-9 are projected (default: ZFNet's 1-5, else each "
                        "conv block's output)")
    parser.add_argument("--top9-features", type=int, default=8, metavar="K",
                        help="maps projected per layer: the first K (default 8)")
    parser.add_argument("--scan-limit", type=int, default=500,
                        help="examples scanned for the top-9 (default 500)")
    parser.add_argument("--train-limit", type=int, default=1000,
                        help="training examples of Table 7's classifiers (default 1000)")
    parser.add_argument("--test-limit", type=int, default=500,
                        help="test examples of Table 7's classifiers (default 500)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", required=True, help="output folder (index.html, report.json, one folder per analysis)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def run(args: argparse.Namespace) -> int:
    """every analysis of a model on one page: filters, top-9, occlusion, invariance,
    correspondence, per-layer features

    Runs the paper's analyses on a model and writes --out/index.html (one static page, readable
    from disk without a server or network), report.json (every number: each analysis' own JSON)
    and each analysis' figures and JSON in a folder of its own. Data: --dataset (labelled data
    adds Table 7's per-layer classifiers, from its train and test splits) or --images (default:
    scikit-image's sample photos); --boxes adds Table 1's correspondence.
    """
    from zfnet_tf.analysis import AnalysisData, part_boxes
    from zfnet_tf.analysis.report import Report, ReportParams
    from zfnet_tf.cli.common import images_from_args

    params = ReportParams(images=args.images_swept, top9_layers=args.top9_layers, top9_features=args.top9_features,
                          scan_limit=args.scan_limit, train_limit=args.train_limit,
                          test_limit=args.test_limit, batch_size=args.batch_size, progress=not args.quiet)
    model = model_from_args(args)
    if args.dataset and args.images:
        raise ValueError("give either --dataset or --images, not both")
    if args.dataset:
        data = data_source_from_args(args)
    else:
        images, names = images_from_args(args, model)
        source = "images" if args.images else "sample photos"
        data = AnalysisData.from_arrays(images, None, names, getattr(model, "class_names", None), source)
    boxes = None
    if args.boxes:
        boxes = part_boxes(args.boxes, model, data if args.dataset else None, args.images or ())
    name = os.path.basename(args.model) if args.model else args.keras_application or f"preset:{args.preset}"
    result = Report(model, params, model_name=name).run(data, boxes=boxes)
    result.save(args.out)
    print(f"wrote {os.path.join(args.out, 'index.html')} and report.json")
    return 0


COMMANDS = (Command("report", add_flags, run),)
