"""`zfnet-tf transfer`: the paper's transfer protocols (Sec. 5.1): Caltech-101/256 (Tables 4-5)
and PASCAL VOC 2012 (Table 6, with `--dataset voc2012`)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from zfnet_tf.cli.command import Command
from zfnet_tf.cli.common import (
    add_data_flags,
    add_model_flags,
    data_source_from_args,
    model_from_args,
    non_negative_int,
    parse_layer,
    positive_float,
    positive_int,
)
from zfnet_tf.data.catalog import POOLED_DATASETS

if TYPE_CHECKING:
    from zfnet_tf.transfer import TransferResult, VOCResult


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
    protocol.add_argument("--layer", type=parse_layer,
                          help="the frozen layer whose features the new softmax reads: a layer "
                          "name (block5_pool, fc2, pool5) or a ZFNet layer number 1-7 (default: "
                          "the layer that feeds the model's classifier, fc7 for ZFNet)")
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
    voc = parser.add_argument_group("PASCAL VOC 2012 (--dataset voc2012, paper Table 6)")
    voc.add_argument("--head", choices=("softmax", "logistic", "both"), default="both",
                     help="the paper's softmax over the 20 classes (each image's target spread "
                     "over its classes), 20 one-vs-rest logistic heads, or both (default)")
    voc.add_argument("--train-split", choices=("train", "trainval"), default="train",
                     help="the image set the heads are fitted on (default train)")
    voc.add_argument("--test-split", choices=("val", "test"),
                     help="val: AP per class and mean AP (default with --train-split train); "
                     "test: the devkit's submission files comp1_cls_test_<class>.txt "
                     "(default with --train-split trainval)")
    baselines = parser.add_argument_group("baselines")
    baselines.add_argument("--scratch-epochs", type=non_negative_int,
                           help="epochs of the from-scratch baseline (default: the library's, "
                           "zfnet_tf.transfer.TransferParams.scratch_epochs)")
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


def run_transfer(args: argparse.Namespace) -> "TransferResult | VOCResult":
    from zfnet_tf.data import image_collection
    from zfnet_tf.transfer import FeatureCache, TransferExperiment, get_protocol

    check_protocol_flags(args)
    model = model_from_args(args)  # a bad model file fails before any data is read
    if args.dataset == "voc2012":
        return run_voc(args, model)
    protocol = get_protocol(
        args.dataset,
        layer=args.layer,
        train_per_class=tuple(args.train_per_class) if args.train_per_class else None,
        test_per_class=args.test_per_class,
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
    collection = image_collection(data_source_from_args(args, split="all"))
    if collection.unmatched_exclusions:
        print(f"warning: {len(collection.unmatched_exclusions)} exclude-file name(s) match no image, "
              f"e.g. {collection.unmatched_exclusions[0]!r}", file=sys.stderr)
    experiment = TransferExperiment(
        model,
        protocol.replace(progress=not args.quiet),
        feature_cache=FeatureCache(args.cache_dir),
        model_name=args.model or args.keras_application or f"preset:{args.preset}",
    )
    return experiment.run(collection)


def check_protocol_flags(args: argparse.Namespace) -> None:
    """A flag of the other protocol is an error, not silently ignored."""
    if args.dataset == "voc2012":
        given = [flag for flag, value in (
            ("--train-per-class", args.train_per_class), ("--test-per-class", args.test_per_class),
            ("--scratch-epochs", args.scratch_epochs), ("--finetune-epochs", args.finetune_epochs or None),
        ) if value is not None]
        if given:
            raise ValueError(f"{', '.join(given)}: Caltech protocol flag(s), not for --dataset voc2012 (Table 6)")
    else:
        given = [flag for flag, changed in (
            ("--head", args.head != "both"), ("--train-split", args.train_split != "train"),
            ("--test-split", args.test_split is not None),
        ) if changed]
        if given:
            raise ValueError(f"{', '.join(given)}: flag(s) of --dataset voc2012 (Table 6), not for {args.dataset}")


def run_voc(args: argparse.Namespace, model) -> "VOCResult":
    from zfnet_tf.transfer import FeatureCache, VOCClassification, VOCParams

    test_split = args.test_split or ("test" if args.train_split == "trainval" else "val")
    params = VOCParams(
        layer=args.layer,
        train_split=args.train_split,
        test_split=test_split,
        heads=("softmax", "logistic") if args.head == "both" else (args.head,),
        c=args.softmax_c,
        feature_batch_size=args.batch_size,
        progress=not args.quiet,
    )
    experiment = VOCClassification(
        model, params, feature_cache=FeatureCache(args.cache_dir),
        model_name=args.model or args.keras_application or f"preset:{args.preset}",
    )
    return experiment.run(data_source_from_args(args, split="all"))


def run(args: argparse.Namespace) -> int:
    """new softmax on frozen layers 1-7 vs. training from scratch (paper Tables 4-5)

    Runs the paper's transfer protocol on a trained model (a ZFNet or any supported Keras
    convnet, features from --layer) and writes transfer.json, table.txt, fig9_accuracy.png and
    classifier.keras to --out; with --dataset voc2012, Table 6: AP per class in transfer.json
    and table.txt, voc_per_class_ap.png, and for --test-split test the submission files. --seed
    is the first split's seed (split k uses seed+k) and the init seed of --preset.
    """
    results = run_transfer(args)
    written = results.save(args.out)
    print(results.table)
    for path in written["files"]:
        print(f"wrote {path}")
    records = [results.data] if "skipped_files" in results.data else list(results.data.values())
    skipped = sum(record["skipped_files"] for record in records)
    if skipped:
        print(f"skipped {skipped} unreadable file(s) (named in the warning above and in transfer.json)")
    return 0


COMMANDS = (Command("transfer", add_transfer_flags, run),)
