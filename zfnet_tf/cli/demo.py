"""`zfnet-tf demo`: the main job on embedded data, no network (what `make demo` runs), then
EfficientNet-Lite0's ImageNet weights on scikit-image's photos (with the `pretrained` extra)."""

from __future__ import annotations

import argparse
import os

from zfnet_tf.cli.command import Command
from zfnet_tf.cli.common import non_negative_int, positive_int

# The REST port of the serve command printed below; `zfnet-tf serve` shows the page there.
EXPLORER_ADDRESS = "http://localhost:8501/"


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo_output", help="output folder")
    parser.add_argument(
        "--export-base",
        default=os.path.join("saved_models", "demo"),
        help="model base path the SavedModel version goes to (default: saved_models/demo)",
    )
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--epochs", type=positive_int, help="override the demo recipe's epochs")
    parser.add_argument("--table7-limits", type=positive_int, nargs=2, default=(1000, 500), metavar=("TRAIN", "TEST"),
                        help="train and test digits of the report's Table 7 classifiers, at most (default 1000 500)")
    parser.add_argument("--no-imagenet", dest="imagenet", action="store_false",
                        help="leave out the ImageNet part (<out>/imagenet: EfficientNet-Lite0 on photos)")


def run(args: argparse.Namespace) -> int:
    """train the tiny preset on the embedded digits, visualize it, export it; then project a real
    ImageNet network (EfficientNet-Lite0) on photos (offline)
    """
    from zfnet_tf.demo import imagenet_demo_missing, read_metrics, run_demo

    missing = imagenet_demo_missing() if args.imagenet else None
    paths = run_demo(args.out, seed=args.seed, epochs=args.epochs, export_base=args.export_base,
                     imagenet=args.imagenet and not missing, table7_limits=tuple(args.table7_limits))
    metrics = read_metrics(paths)
    print(
        f"test accuracy {100 * metrics['test_accuracy']:.2f}% on {metrics['test_examples']} "
        f"held-out digits after {metrics['epochs']} epochs ({metrics['total_seconds']:.0f} s)"
    )
    for name, path in paths.items():
        print(f"{name}: {path}")
    if missing:
        print(f"\nImageNet part (EfficientNet-Lite0 on photos, {os.path.join(args.out, 'imagenet')}) "
              f"skipped: {missing}, then run the demo again")
    base = os.path.abspath(args.export_base)
    answer = os.path.join(args.out, "project_layer5_answer.json")
    serve = f"zfnet-tf serve --model_name=demo --model_base_path={base} --rest_api_port=8501"
    print(
        "\nServe the export and fetch a layer-5 projection of the digit (two shells):\n"
        f"  {serve}\n"
        f"  curl -s -X POST -d @{paths['project_request']} "
        f"http://localhost:8501/v1/models/demo:predict -o {answer}\n"
        "or, as PNGs, with the client:\n"
        f"  zfnet-tf client project --model-name demo --layer 5 "
        f"--out {os.path.join(args.out, 'served')} {paths['digit_png']}"
    )
    print(
        "\nSee what every layer responds to, live, in the browser: run\n"
        f"  {serve}\n"
        f"and open the explorer at {EXPLORER_ADDRESS}"
    )
    print(f"\nEvery analysis of the demo model on one page (opens from disk): {paths['report']}")
    if "imagenet_report" in paths:
        print(f"and of EfficientNet-Lite0 on the photos: {paths['imagenet_report']}")
    return 0


COMMANDS = (Command("demo", add_flags, run),)
