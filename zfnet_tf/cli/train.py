"""`zfnet-tf train`: train a preset on a dataset with the paper's recipe (resumable)."""

from __future__ import annotations

import argparse

from zfnet_tf.cli.command import Command
from zfnet_tf.cli.common import (
    add_data_flags,
    data_source_from_args,
    non_negative_int,
    parse_layer,
    positive_float,
    positive_int,
)
from zfnet_tf.config import PRESETS

# Kept in step with zfnet_tf.training.RECIPES / STRATEGIES; listed here so `zfnet-tf --help`
# does not import TensorFlow.
RECIPES = ("paper", "demo")
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")


def add_train_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=sorted(PRESETS), default="zfnet", help="network (default: zfnet, Fig. 3)")
    add_data_flags(parser, default="imagenet2012")
    parser.add_argument("--model-dir", required=True,
                        help="checkpoints, TensorBoard logs (<model-dir>/logs) and model.keras go here; "
                             "the same dir resumes")
    parser.add_argument("--recipe", choices=RECIPES, default="paper",
                        help="paper: SGD 1e-2, momentum 0.9, batch 128, 70 epochs, lr/10 on plateau; "
                             "demo: small CPU run")
    parser.add_argument("--epochs", type=positive_int, help="override the recipe's epochs")
    parser.add_argument("--batch-size", type=positive_int, help="global batch size (over all replicas and workers)")
    parser.add_argument("--learning-rate", type=positive_float, help="override the initial learning rate")
    parser.add_argument("--strategy", choices=STRATEGIES, default="auto",
                        help="auto: multi_worker if TF_CONFIG lists several tasks, mirrored if several "
                             "GPUs, else one_device")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="float16 compute on GPUs (bfloat16 elsewhere), float32 variables")
    parser.add_argument("--jit-compile", action="store_true", help="XLA-compile the train step")
    parser.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                        help="continue the run found in --model-dir (default); --no-resume refuses to "
                             "touch an existing run")
    parser.add_argument("--cache", nargs="?", const=True, default=None, metavar="PATH",
                        help="cache decoded images in memory (no PATH) or in files at PATH")
    parser.add_argument("--steps-per-epoch", type=positive_int, help="fewer steps than one pass (quick runs)")
    parser.add_argument("--validation-steps", type=positive_int, help="fewer validation batches")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2),
                        help="Keras progress output: 0 none, 1 a live bar, 2 a line per epoch "
                        "(default: 1 on a terminal, else 2)")
    parser.add_argument("--projection-layers", type=parse_layer, nargs="+", metavar="LAYER",
                        help="layers of the TensorBoard projections and the Fig. 4 figure: names "
                        "(pool2, norm1) or 1-5 (default: 1-5)")


def train_from_args(args: argparse.Namespace):
    from zfnet_tf.training import train

    return train(
        args.model_dir,
        preset=args.preset,
        dataset=data_source_from_args(args),
        recipe=args.recipe,
        strategy=args.strategy,
        mixed_precision=args.mixed_precision,
        jit_compile=args.jit_compile,
        resume=args.resume,
        seed=args.seed,
        steps_per_epoch=args.steps_per_epoch,
        validation_steps=args.validation_steps,
        verbose="auto" if args.verbose is None else args.verbose,
        epochs=args.epochs,
        global_batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        cache=args.cache,
        projection_layers=args.projection_layers,
    )


def run(args: argparse.Namespace) -> int:
    """train ZFNet (paper recipe, tf.distribute, resumable, TensorBoard)

    Trains a preset; writes checkpoints, TensorBoard logs, feature_evolution.png and model.keras
    to --model-dir. Running the same command again resumes.
    """
    result = train_from_args(args)
    if result.initial_epoch >= result.epochs:
        print(f"already trained {result.epochs} epochs in {result.model_dir}")
    elif result.initial_epoch:
        print(f"resumed after epoch {result.initial_epoch}")
    if result.history:
        last = {k: v[-1] for k, v in result.history.items() if k != "epoch"}
        print("final epoch: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(last.items())))
    # Without split sub-folders, training and validation read (and skip) the same files.
    skipped = {entry["path"] for report in result.data.values() for entry in report["skipped"]}
    if skipped:
        print(f"skipped {len(skipped)} unreadable file(s) (named in the warning above and in run.json)")
    print(f"model: {result.model_path}")
    if result.feature_evolution:
        print(f"feature evolution (Fig. 4): {result.feature_evolution}")
        print(f"TensorBoard: tensorboard --logdir {result.log_dir}")
    return 0


COMMANDS = (Command("train", add_train_flags, run),)
