"""`zfnet-tf transfer`: the paper's Caltech-101/256 transfer protocol (Sec. 5.1, Tables 4-5)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from zfnet_tf.cli.common import (
    add_data_flags,
    add_model_flags,
    data_source_from_args,
    model_from_args,
    non_negative_int,
    positive_float,
    positive_int,
)
from zfnet_tf.data.catalog import POOLED_DATASETS

if TYPE_CHECKING:
    from zfnet_tf.transfer import TransferResults


def _test_count(value: str) -> int:
    count = int(value)
    if count < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (0: all the rest), got {count}")
    return count


def add_transfer_flags(parser: argparse.ArgumentParser) -> None:
    add_model_flags(parser)
    # Every image of the dataset once (split "all"): the protocol draws its own splits.
    add_data_flags(parser, required=True, choices=POOLED_DATASETS)
    protocol = parser.add_argument_group("protocol (defaults: the paper's for --dataset)")
    protocol.add_argument("--train-per-class", type=positive_int, nargs="+", metavar="N",
                          help="training images per class (caltech101: 15 30; caltech256: "
                          "15 30 45 60; folder: 15 30)")
    protocol.add_argument("--test-per-class", type=_test_count, metavar="M",
                          help="test images per class, at most (caltech101: 50; caltech256: 25; "
                          "folder: all the rest); 0: all the rest")
    protocol.add_argument("--splits", type=positive_int, default=5, help="random splits per N (default 5)")
    protocol.add_argument("--softmax-c", type=positive_float, default=1.0,
                          help="inverse L2 strength of the new softmax (default 1.0)")
    protocol.add_argument("--batch-size", type=positive_int, default=64,
                          help="images per forward pass for feature extraction")
    protocol.add_argument("--cache-dir",
                          help="keep extracted features here (.npz keyed by model weights and "
                          "image list) so later runs skip the forward pass")
    baselines = parser.add_argument_group("baselines")
    baselines.add_argument("--scratch-epochs", type=non_negative_int, default=30,
                           help="epochs of the from-scratch baseline (default 30)")
    baselines.add_argument("--no-scratch", action="store_true",
                           help="skip the from-scratch baseline")
    baselines.add_argument("--scratch-learning-rate", type=positive_float, default=1e-2)
    baselines.add_argument("--finetune-epochs", type=non_negative_int, default=0,
                           help="also fine-tune the whole transferred network (default 0: off)")
    baselines.add_argument("--finetune-learning-rate", type=positive_float, default=1e-4)
    baselines.add_argument("--train-batch-size", type=positive_int, default=32,
                           help="batch size of scratch training and fine-tuning")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "transfer",
        help="new softmax on frozen layers 1-7 vs. training from scratch (paper Tables 4-5)",
        description="Runs the paper's transfer protocol on a trained model and writes "
        "transfer.json, table.txt, fig9_accuracy.png and classifier.keras to --out. "
        "--seed is the first split's seed (split k uses seed+k) and the init seed of --preset.",
    )
    add_transfer_flags(parser)
    parser.set_defaults(func=run)


def run_transfer(args: argparse.Namespace) -> "TransferResults":
    from zfnet_tf.data import image_collection
    from zfnet_tf.transfer import FeatureCache, TransferExperiment, get_protocol

    model = model_from_args(args)  # a bad model file fails before any data is read
    protocol = get_protocol(
        args.dataset,
        train_per_class=tuple(args.train_per_class) if args.train_per_class else None,
        test_per_class=args.test_per_class or None,
        splits=args.splits,
        seed=args.seed,
        softmax_c=args.softmax_c,
        feature_batch_size=args.batch_size,
        scratch_epochs=0 if args.no_scratch else args.scratch_epochs,
        scratch_learning_rate=args.scratch_learning_rate,
        finetune_epochs=args.finetune_epochs,
        finetune_learning_rate=args.finetune_learning_rate,
        train_batch_size=args.train_batch_size,
    )
    if args.test_per_class == 0:
        protocol = protocol.replace(test_per_class=None)
    collection = image_collection(data_source_from_args(args, split="all"))
    if collection.unmatched_exclusions:
        print(f"warning: {len(collection.unmatched_exclusions)} exclude-file name(s) match no image, "
              f"e.g. {collection.unmatched_exclusions[0]!r}", file=sys.stderr)
    experiment = TransferExperiment(
        model,
        protocol.replace(progress=not args.quiet),
        feature_cache=FeatureCache(args.cache_dir),
        model_name=args.model or f"preset:{args.preset}",
    )
    return experiment.run(collection)


def run(args: argparse.Namespace) -> int:
    results = run_transfer(args)
    written = results.save(args.out)
    print(results.table)
    for path in written["files"]:
        print(f"wrote {path}")
    if results.data["skipped_files"]:
        print(f"skipped {results.data['skipped_files']} unreadable file(s) (named in the warning above "
              "and in transfer.json)")
    return 0
