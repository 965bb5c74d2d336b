"""Projection cost against the forward pass it needs, for ZFNet or any keras.applications model.

For each layer: the forward pass to the layer (the model's own layers, `Deconvnet.
activation_function`), one projection per image from it (`Deconvnet`), and the same through
the modified-backprop reference; then K projections per image (the top-9 workload). Prints
times and each one's ratio over the forward time.
Targets (issues 9 and 15): ZFNet at 224, batch 8, with LCN and without normalization: one
projection <= 1.6x the forward at layers 1-4 and <= 1.8x at layer 5, K = 9 <= 6x at layer 5;
keras.applications at 224, batch 8: VGG16's block5_conv3 one projection <= 2.2x; MobileNetV2,
EfficientNetB0 and ConvNeXtTiny, the last block's output, one projection <= 2.5x.

    python bench/bench_projection.py [--preset zfnet] [--normalization lcn|lrn|none]
    python bench/bench_projection.py --keras-application VGG16 --layers block5_conv3
    python bench/bench_projection.py --keras-application MobileNetV2 EfficientNetB0 ConvNeXtTiny --last-block
    options: [--batch 8] [--repeats 5] [--features 9] [--input-size 224]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import zfnet_tf  # noqa: E402
from zfnet_tf.cli.common import parse_layer  # noqa: E402
from zfnet_tf.deconv.modified_backprop import modified_backprop_projection  # noqa: E402


def median_seconds(function, repeats: int) -> float:
    function()  # a projection's first call runs eagerly (TracedOnReuse),
    function()  # its second traces the graph that the timed calls run
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        tf.nest.map_structure(lambda t: t.numpy(), result)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def build(args, application: str | None) -> keras.Model:
    keras.utils.set_random_seed(0)
    if application:
        size = args.input_size or 224
        return getattr(keras.applications, application)(weights=None, input_shape=(size, size, 3))
    overrides = {} if args.input_size is None else {"input_size": args.input_size}
    if args.normalization is not None:
        overrides["normalization"] = None if args.normalization == "none" else args.normalization
    return zfnet_tf.build_model(args.preset, **overrides)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="zfnet")
    parser.add_argument("--normalization", choices=["lcn", "lrn", "none"], default=None)
    parser.add_argument("--keras-application", nargs="+", default=None, help="e.g. VGG16 (weights=None)")
    parser.add_argument("--layers", nargs="+", type=parse_layer, default=None,
                        help="layer names, or ZFNet's 1-5 (default: the model's default layers)")
    parser.add_argument("--last-block", action="store_true",
                        help="only the last of the default layers (the last block's output)")
    parser.add_argument("--input-size", type=int, default=None)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--features", type=int, default=9, help="K features per image")
    parser.add_argument("--rule", choices=("deconvnet", "guided", "gradient"), default="deconvnet")
    parser.add_argument("--no-reference", action="store_true", help="skip the modified-backprop columns")
    args = parser.parse_args()

    for application in args.keras_application or [None]:
        bench_model(args, application)


def bench_model(args, application: str | None) -> None:
    model = build(args, application)
    deconvnet = zfnet_tf.Deconvnet(model)
    height, width = deconvnet.input_size()
    images = tf.constant(np.random.RandomState(0).uniform(0, 255, (args.batch, height, width, 3)), tf.float32)
    strongest = tf.fill([args.batch, 1], -1)
    layers = args.layers or deconvnet.default_layers()
    if args.last_block:
        layers = layers[-1:]

    name = application or f"{args.preset} (normalization {model.config.normalization})"
    print(f"{name}, input {height}, batch {args.batch}, K = {args.features}, rule {args.rule}, "
          f"median of {args.repeats}, {os.cpu_count()} CPU cores")
    print(f"{'layer':>14} {'forward ms':>11} {'project ms':>11} {'ratio':>6} {'reference ms':>13} {'ratio':>6}"
          f" | {'K proj ms':>10} {'ratio':>6} {'K ref ms':>10} {'ratio':>6}")
    for layer in layers:
        forward = deconvnet.activation_function([layer])
        project = deconvnet.projection_function(layer, "max", args.rule, features_per_image=1)
        project_many = deconvnet.projection_function(layer, "max", args.rule, features_per_image=args.features)
        reference = tf.function(
            lambda x, f, l=layer: modified_backprop_projection(model, x, f, l, "max", args.rule)
        )
        k_features = tf.constant(
            np.tile(np.arange(args.features) % deconvnet.num_features(layer), (args.batch, 1)), tf.int32
        )
        t_forward = median_seconds(lambda: forward(images), args.repeats)
        t_project = median_seconds(lambda: project(images, strongest), args.repeats)
        t_project_k = (
            median_seconds(lambda: project_many(images, k_features), args.repeats) if args.features > 1 else float("nan")
        )
        if args.no_reference:
            t_reference = t_reference_k = float("nan")
        else:
            t_reference = median_seconds(lambda: reference(images, strongest), args.repeats)
            t_reference_k = median_seconds(lambda: reference(images, k_features), args.repeats)
        print(
            f"{str(layer):>14} {1e3 * t_forward:>11.1f} {1e3 * t_project:>11.1f} {t_project / t_forward:>6.2f}"
            f" {1e3 * t_reference:>13.1f} {t_reference / t_forward:>6.2f}"
            f" | {1e3 * t_project_k:>10.1f} {t_project_k / t_forward:>6.2f}"
            f" {1e3 * t_reference_k:>10.1f} {t_reference_k / t_forward:>6.2f}"
        )


if __name__ == "__main__":
    main()
