"""`zfnet-tf top9 | occlusion | invariance | correspondence | filters | layer-features`.

The paper's analyses (arXiv 1311.2901, Figs. 2, 5, 6, 7 and Tables 1, 7): each command reads a
model and data, and writes its PNG figure(s) and a JSON of its numbers to `--out`.
"""

from __future__ import annotations

import argparse
import os

from zfnet_tf.cli.common import (
    add_data_flags,
    add_image_flags,
    add_model_flags,
    data_source_from_args,
    model_from_args,
)

TRANSFORM_CHOICES = ("translation", "scale", "rotation")


# -- flags -----------------------------------------------------------------------------------


def _add_data_flags(parser: argparse.ArgumentParser, limit_default: int | None, images: bool = True) -> None:
    group = add_data_flags(parser)
    group.add_argument("--split", choices=("train", "test"), default="test", help="dataset split (default test)")
    group.add_argument("--limit", type=int, default=limit_default,
                       help=f"use the first N examples (default: {limit_default or 'all'})")
    if images:
        add_image_flags(parser)
        group.add_argument("--labels", nargs="+",
                           help="true class (index or name) of each --images file; default: the "
                                "model's answer on the unaltered image")


def _add_out_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder for the PNG(s) and JSON")


def _fill(text: str):
    if text == "mean":
        return "mean"
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--fill must be 'mean', a number or R,G,B, got {text!r}") from None
    if len(values) not in (1, 3):
        raise argparse.ArgumentTypeError(f"--fill must be 'mean', a number or R,G,B, got {text!r}")
    return values[0] if len(values) == 1 else values


def register(subparsers) -> None:
    top9 = subparsers.add_parser(
        "top9", help="top-9 activations per feature map over a dataset, projected (Fig. 2)",
        description="Writes top9_layerL.png (pages _1, _2, ... for many maps) and top9_layerL.json.",
    )
    add_model_flags(top9)
    _add_data_flags(top9, None)
    top9.add_argument("--layer", type=int, default=5, choices=range(1, 6), metavar="L", help="layer 1-5 (default 5)")
    top9.add_argument("--k", type=int, default=9, help="activations per map (default 9)")
    top9.add_argument("--features", type=int, nargs="+", metavar="C",
                      help="feature maps to project and draw (default: all)")
    top9.add_argument("--maps-per-figure", type=int, default=16, help="maps per PNG page (default 16)")
    top9.add_argument("--batch-size", type=int, default=64)
    _add_out_flag(top9)
    top9.set_defaults(func=run_top9)

    occlusion = subparsers.add_parser(
        "occlusion", help="occlusion sensitivity maps (Fig. 7)",
        description="Writes occlusion.png and occlusion.json.",
    )
    add_model_flags(occlusion)
    _add_data_flags(occlusion, 3)
    occlusion.add_argument("--layer", type=int, default=5, choices=range(1, 6), metavar="L",
                           help="layer whose strongest map is watched (default 5)")
    occlusion.add_argument("--patch-size", type=int, help="side of the grey square in pixels (default: input/4)")
    occlusion.add_argument("--stride", type=int, help="pixels between square positions (default: input/16)")
    occlusion.add_argument("--fill", type=_fill, default="mean",
                           help="square colour: 'mean' (the model's mean RGB, default), a number or R,G,B")
    occlusion.add_argument("--batch-size", type=int, default=64)
    _add_out_flag(occlusion)
    occlusion.set_defaults(func=run_occlusion)

    invariance = subparsers.add_parser(
        "invariance", help="feature distance and class probability under translation/scale/rotation (Fig. 5)",
        description="Writes invariance.png and invariance.json.",
    )
    add_model_flags(invariance)
    _add_data_flags(invariance, 3)
    invariance.add_argument("--layers", type=int, nargs="+", metavar="L",
                            help="layers to compare (default: 1 and 7, or the last fc layer)")
    invariance.add_argument("--transforms", nargs="+", choices=TRANSFORM_CHOICES, default=list(TRANSFORM_CHOICES))
    invariance.add_argument("--fill", type=_fill, default="mean", help="colour of uncovered pixels")
    _add_out_flag(invariance)
    invariance.set_defaults(func=run_invariance)

    correspondence = subparsers.add_parser(
        "correspondence", help="consistency of feature changes when masking the same part (Table 1)",
        description="Writes correspondence.png and correspondence.json. The box file (JSON or CSV) "
                    "lists image, part, top, left, bottom, right; image is a file (pixels of that "
                    "file) or an index into --dataset (pixels of the model input).",
    )
    add_model_flags(correspondence)
    _add_data_flags(correspondence, None)
    correspondence.add_argument("--boxes", required=True, help="JSON or CSV file of part boxes")
    correspondence.add_argument("--layers", type=int, nargs="+", metavar="L",
                                help="layers (default: 5 and 7, or the last fc layer)")
    correspondence.add_argument("--random-draws", type=int, default=5,
                                help="sets of random boxes per part (default 5)")
    correspondence.add_argument("--random-seed", type=int, default=0)
    correspondence.add_argument("--fill", type=_fill, default="mean", help="mask colour")
    _add_out_flag(correspondence)
    correspondence.set_defaults(func=run_correspondence)

    filters = subparsers.add_parser(
        "filters", help="layer-1 filters, frequency bands, dead filters, layer-2 projections; "
                        "compare two models (Fig. 6)",
        description="Writes filters.png, filters_layer2.png and filters.json.",
    )
    add_model_flags(filters)
    filters.add_argument("--compare-model", help="a second .keras model to show beside the first")
    filters.add_argument("--compare-preset", help="or a preset with random weights (e.g. alexnet)")
    _add_data_flags(filters, 500)
    filters.add_argument("--dead-fraction", type=float, default=0.05,
                         help="a filter is dead when its norm is at most this fraction of its layer's largest")
    filters.add_argument("--batch-size", type=int, default=64)
    _add_out_flag(filters)
    filters.set_defaults(func=run_filters)

    features = subparsers.add_parser(
        "layer-features", help="softmax and linear SVM accuracy on each layer's features (Table 7)",
        description="Writes layer_features.png and layer_features.json. Trains on the dataset's "
                    "train split, tests on its test split.",
    )
    add_model_flags(features)
    group = add_data_flags(features, required=True)
    group.add_argument("--train-limit", type=int, help="use the first N training examples")
    group.add_argument("--test-limit", type=int, help="use the first N test examples")
    features.add_argument("--layers", type=int, nargs="+", metavar="L", help="layers 1-7 (default: all)")
    features.add_argument("--classifiers", nargs="+", choices=("softmax", "svm"), default=["softmax", "svm"])
    features.add_argument("--max-dimensions", type=int, default=4096,
                          help="conv maps are average-pooled to at most this many values (default 4096)")
    features.add_argument("-C", "--regularization", type=float, default=1.0,
                          help="inverse regularization strength of both classifiers")
    features.add_argument("--batch-size", type=int, default=64)
    _add_out_flag(features)
    features.set_defaults(func=run_layer_features)


# -- data ------------------------------------------------------------------------------------


def _check_limit(limit):
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be >= 1, got {limit}")


def _dataset(args, config, split: str | None = None, limit: int | None = None):
    """`--dataset` read for a model with `config` (`zfnet_tf.data.LoadedData`: un-batched
    `(image, label)`, class names, the report of what was read and skipped)."""
    from zfnet_tf.data import load_data

    return load_data(data_source_from_args(args, split, limit), config.input_size, config.image_resize_size)


def _labels_from_args(args, count: int, class_names) -> list[int] | None:
    if not getattr(args, "labels", None):
        return None
    if len(args.labels) != count:
        raise ValueError(f"--labels has {len(args.labels)} values for {count} images")
    labels = []
    for text in args.labels:
        if text.lstrip("-").isdigit():
            labels.append(int(text))
        elif class_names is not None and text in class_names:
            labels.append(list(class_names).index(text))
        else:
            raise ValueError(f"--labels: {text!r} is neither a class index nor one of the model's class names")
    return labels


def _stream(args, model):
    """Data for whole-dataset passes: `(dataset or image array, image names or None, data
    report or None)`."""
    from zfnet_tf.cli.common import images_from_args

    _check_limit(args.limit)
    if args.dataset and args.images:
        raise ValueError("give either --dataset or --images, not both")
    if args.dataset:
        loaded = _dataset(args, _config(model), limit=args.limit)
        return loaded.dataset, None, loaded.report()
    images, names = images_from_args(args, model)
    if args.limit is not None:
        images, names = images[: args.limit], names[: args.limit]
    return images, names, None


def _arrays(args, model):
    """A few images as arrays: `(images, labels or None, names, class names, data report or None)`."""
    from zfnet_tf.analysis.feature_layers import images_and_labels
    from zfnet_tf.cli.common import images_from_args

    _check_limit(args.limit)
    class_names = getattr(model, "class_names", None)
    if args.dataset and args.images:
        raise ValueError("give either --dataset or --images, not both")
    config = _config(model)
    if args.dataset:
        loaded = _dataset(args, config, limit=args.limit)
        images, labels = images_and_labels(loaded.dataset, config.input_size)
        names = [f"{args.dataset}[{args.split}][{i}]" for i in range(len(images))]
        return images, labels, names, class_names or loaded.class_names, loaded.report()
    images, names = images_from_args(args, model)
    if args.limit is not None:
        images, names = images[: args.limit], names[: args.limit]
    return images, _labels_from_args(args, len(images), class_names), names, class_names, None


def _config(model):
    from zfnet_tf.models import get_backbone

    return get_backbone(model).config


def _report(numbers: dict) -> int:
    for path in numbers["files"]:
        print(f"wrote {path}")
    return 0


# -- commands --------------------------------------------------------------------------------


def run_top9(args: argparse.Namespace) -> int:
    from zfnet_tf.analysis import write_top9

    model = model_from_args(args)
    data, names, data_report = _stream(args, model)
    return _report(
        write_top9(model, data, args.out, layer=args.layer, k=args.k, features=args.features,
                   image_names=names, batch_size=args.batch_size, maps_per_figure=args.maps_per_figure,
                   data_report=data_report)
    )


def run_occlusion(args: argparse.Namespace) -> int:
    from zfnet_tf.analysis import write_occlusion

    model = model_from_args(args)
    images, labels, names, class_names, data_report = _arrays(args, model)
    return _report(
        write_occlusion(model, images, args.out, labels=labels, image_names=names, class_names=class_names,
                        layer=args.layer, patch_size=args.patch_size, stride=args.stride, fill=args.fill,
                        batch_size=args.batch_size, data_report=data_report)
    )


def run_invariance(args: argparse.Namespace) -> int:
    from zfnet_tf.analysis import default_sweeps, write_invariance

    model = model_from_args(args)
    images, labels, names, _, data_report = _arrays(args, model)
    sweeps = {
        name: amounts
        for name, amounts in default_sweeps(_config(model).input_size).items()
        if name in args.transforms
    }
    return _report(
        write_invariance(model, images, args.out, labels=labels, image_names=names, layers=args.layers,
                         sweeps=sweeps, fill=args.fill, data_report=data_report)
    )


def run_correspondence(args: argparse.Namespace) -> int:
    from zfnet_tf.analysis import write_correspondence

    model = model_from_args(args)
    images, boxes, names, data_report = _correspondence_inputs(args, _config(model))
    return _report(
        write_correspondence(model, images, boxes, args.out, image_names=names, layers=args.layers,
                             random_draws=args.random_draws, seed=args.random_seed, fill=args.fill,
                             data_report=data_report)
    )


def _correspondence_inputs(args, config):
    """Reads the box file: images (files or dataset indices), `{part: boxes}` in input pixels,
    image names, and the report of the dataset read (None if none was)."""
    import numpy as np

    from zfnet_tf.analysis.correspondence import box_in_input, boxes_by_part, load_boxes
    from zfnet_tf.analysis.feature_layers import images_and_labels
    from zfnet_tf.data import load_image_file

    size = config.input_size
    entries = load_boxes(args.boxes)
    given = {os.path.basename(p): p for p in (args.images or [])}
    indices = sorted({e["image"] for e in entries if isinstance(e["image"], int)})
    dataset_images = data_report = None
    if indices:
        if not args.dataset:
            raise ValueError(f"box file {args.boxes} names dataset indices {indices[:5]}: give --dataset")
        if indices[0] < 0:
            raise ValueError(f"box file {args.boxes}: dataset index {indices[0]} is negative")
        loaded = _dataset(args, config, limit=indices[-1] + 1)
        dataset_images, _ = images_and_labels(loaded.dataset, size)
        data_report = loaded.report()
        if indices[-1] >= len(dataset_images):
            raise ValueError(f"box file {args.boxes}: index {indices[-1]} is past the dataset's {len(dataset_images)} images")
    for entry in entries:
        image = entry["image"]
        if isinstance(image, int):
            continue
        if not os.path.isfile(image) and os.path.basename(image) in given:
            image = entry["image"] = given[os.path.basename(image)]
        if not os.path.isfile(image):
            raise ValueError(f"box file {args.boxes}: image file not found: {image}")
        if config.image_resize_size != size:
            # box_in_input maps file pixels through a resize to the input size only.
            raise ValueError(
                f"box file {args.boxes}: boxes in image-file pixels need a model that sees whole "
                f"images; this one crops {size} of {config.image_resize_size} pixels: give the "
                "boxes in model-input pixels of --dataset indices instead"
            )
        from PIL import Image

        with Image.open(image) as opened:
            width, height = opened.size
        entry["box"] = box_in_input(entry["box"], (height, width), size)
    keys, boxes = boxes_by_part(entries)
    images = np.stack([dataset_images[k] if isinstance(k, int) else load_image_file(k, size) for k in keys])
    names = [f"{args.dataset}[{args.split}][{k}]" if isinstance(k, int) else os.path.basename(k) for k in keys]
    return images, boxes, names, data_report


def run_filters(args: argparse.Namespace) -> int:
    import keras

    from zfnet_tf.analysis import write_filters
    from zfnet_tf.models import build_model, load_model

    model = model_from_args(args)
    name = os.path.splitext(os.path.basename(args.model))[0] if args.model else args.preset
    models = {name: model}
    if args.compare_model and args.compare_preset:
        raise ValueError("give either --compare-model or --compare-preset, not both")
    if args.compare_model:
        other = os.path.splitext(os.path.basename(args.compare_model))[0]
        models[other if other != name else f"{other} (2)"] = load_model(args.compare_model)
    elif args.compare_preset:
        from zfnet_tf.config import PRESETS

        if args.compare_preset not in PRESETS:
            raise ValueError(f"unknown --compare-preset {args.compare_preset!r}; presets: {sorted(PRESETS)}")
        keras.utils.set_random_seed(args.seed)
        other = build_model(args.compare_preset)
        models[args.compare_preset if args.compare_preset != name else f"{name} (2)"] = other
    # Layer-2 projections read the data at each model's own input size.
    streams = {key: _stream(args, m) for key, m in models.items()}
    data = {key: stream[0] for key, stream in streams.items()}
    # Every model reads the same files (at its own size): one report.
    data_report = next(iter(streams.values()))[2]
    return _report(write_filters(models, args.out, data=data, dead_fraction=args.dead_fraction,
                                 batch_size=args.batch_size, data_report=data_report))


def run_layer_features(args: argparse.Namespace) -> int:
    from zfnet_tf.analysis import write_layer_features

    model = model_from_args(args)
    config = _config(model)
    for flag, value in (("--train-limit", args.train_limit), ("--test-limit", args.test_limit)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")
    train = _dataset(args, config, "train", args.train_limit)
    test = _dataset(args, config, "test", args.test_limit)
    return _report(
        write_layer_features(model, train.dataset, test.dataset, args.out, layers=args.layers,
                             classifiers=args.classifiers, max_dimensions=args.max_dimensions,
                             regularization=args.regularization, batch_size=args.batch_size,
                             data_report={"train": train.report(), "test": test.report()})
    )
