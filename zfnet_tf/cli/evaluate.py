"""`zfnet-tf evaluate`: top-1 / top-5 error, centre crop and 10-crop (paper Table 2)."""

from __future__ import annotations

import argparse

from zfnet_tf.cli.command import Command
from zfnet_tf.cli.common import add_data_flags, data_source_from_args, positive_int


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="a trained .keras file (e.g. <model-dir>/model.keras)")
    data = add_data_flags(parser, default="imagenet2012")
    data.add_argument("--split", choices=("train", "test"), default="test",
                      help="test = ImageNet's validation set (default)")
    parser.add_argument("--crops", nargs="+", choices=("center", "ten"), default=["center", "ten"],
                        help="centre crop and/or the average of 10 crops (corners, centre, mirrored)")
    parser.add_argument("--batch-size", type=positive_int, default=64)
    data.add_argument("--max-examples", type=positive_int, help="evaluate only the first N images")
    parser.add_argument("--out", help="also write the numbers (and the data read and skipped) to this JSON file")


def run(args: argparse.Namespace) -> int:
    """top-1/top-5 error of a trained model (centre crop and 10-crop)

    Prints the top-1 and top-5 error of --model on a dataset split.
    """
    from zfnet_tf.files import write_json
    from zfnet_tf.models import load_model
    from zfnet_tf.training.evaluation import evaluate_model

    source = data_source_from_args(args, limit=args.max_examples)
    model = load_model(args.model)
    evaluation = evaluate_model(model, source, tuple(args.crops), args.batch_size)
    if evaluation.data["skipped_files"]:
        print(f"skipped {evaluation.data['skipped_files']} unreadable file(s) (named in the warning above)")
    for result in evaluation.results:
        print(
            f"{result.crops:>6} crop{'s' if result.crops == 'ten' else ''}: "
            f"top-1 error {100 * result.top1_error:.2f}%  top-5 error {100 * result.top5_error:.2f}%  "
            f"({result.num_examples} images)"
        )
    if args.out:
        write_json(args.out, {"model": args.model, "dataset": args.dataset, "split": args.split,
                              **evaluation.to_dict()})
        print(f"wrote {args.out}")
    return 0


COMMANDS = (Command("evaluate", add_flags, run),)
