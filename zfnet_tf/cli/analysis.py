"""`zfnet-tf top9 | occlusion | invariance | correspondence | filters | layer-features`.

The paper's analyses (arXiv 1311.2901, Figs. 2, 5, 6, 7 and Tables 1, 7) on any model the
deconvnet supports: each command reads a model and data, turns its flags into the analysis'
params, and writes the result (`Analysis(model, params).run(data).save(out)`): its PNG
figure(s) and a JSON of its numbers in `--out`. Layers are ZFNet's numbers or layer names.
"""

from __future__ import annotations

import argparse
import os
from typing import Callable

from zfnet_tf.cli.command import Command
from zfnet_tf.cli.common import (
    add_data_flags,
    add_image_flags,
    add_model_flags,
    data_source_from_args,
    model_from_args,
    non_negative_float,
    non_negative_int,
    parse_layer,
    positive_float,
    positive_int,
)


# -- flags -----------------------------------------------------------------------------------


def _add_data_flags(parser: argparse.ArgumentParser, limit_default: int | None, images: bool = True) -> None:
    group = add_data_flags(parser)
    group.add_argument("--split", choices=("train", "test"), default="test", help="dataset split (default test)")
    group.add_argument("--limit", type=positive_int, default=limit_default,
                       help=f"use the first N examples (default: {limit_default or 'all'})")
    if images:
        add_image_flags(parser)
        group.add_argument("--labels", nargs="+",
                           help="true class (index or name) of each --images file; default: the "
                                "model's answer on the unaltered image")


def _add_layer_flag(parser: argparse.ArgumentParser, what: str, flag: str = "--layer") -> None:
    parser.add_argument(flag, type=parse_layer, metavar="LAYER", help=what)


def _add_layers_flag(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--layers", type=parse_layer, nargs="+", metavar="LAYER",
                        help=f"layer names, or ZFNet's 1-7 (default: {default})")


def _add_out_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder for the PNG(s) and JSON")


def _add_fill_flag(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--fill", default="mean",
                        help=f"{what}: 'mean' (the colour the model's preprocessing maps to zero, "
                             "ZFNet's mean RGB; default), a number or R,G,B")


def _analysis(
    name: str,
    own_flags: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], int],
    data_limit: int | None | bool = None,
    batch_size: bool = True,
) -> Command:
    """An analysis command: the model flags; unless `data_limit` is False, the data flags
    (`--limit` defaulting to `data_limit`); its own flags; `--batch-size` (when the analysis
    batches) and `--out`."""

    def add_flags(parser: argparse.ArgumentParser) -> None:
        add_model_flags(parser)
        if data_limit is not False:
            _add_data_flags(parser, data_limit)
        own_flags(parser)
        if batch_size:
            parser.add_argument("--batch-size", type=positive_int, default=64)
        _add_out_flag(parser)

    return Command(name, add_flags, run)


def _add_top9_flags(top9: argparse.ArgumentParser) -> None:
    _add_layer_flag(top9, "a layer name, or ZFNet's 1-5 (default: ZFNet's 5, else the last "
                          "conv block's output)")
    top9.add_argument("--k", type=positive_int, default=9, help="activations per map (default 9)")
    top9.add_argument("--features", type=non_negative_int, nargs="+", metavar="C",
                      help="feature maps to project and draw (default: all)")
    top9.add_argument("--maps-per-figure", type=positive_int, default=16, help="maps per PNG page (default 16)")


def _add_occlusion_flags(occlusion: argparse.ArgumentParser) -> None:
    _add_layer_flag(occlusion, "layer whose strongest map is watched: a name, or ZFNet's 1-5 "
                               "(default: ZFNet's 5, else the last conv block's output)")
    occlusion.add_argument("--patch-size", type=positive_int, help="side of the grey square in pixels (default: input/4)")
    occlusion.add_argument("--stride", type=positive_int, help="pixels between square positions (default: input/16)")
    _add_fill_flag(occlusion, "square colour")


def _add_invariance_flags(invariance: argparse.ArgumentParser) -> None:
    _add_layers_flag(invariance, "ZFNet's 1 and 7; else the first conv block's output and the "
                                 "classifier's input")
    invariance.add_argument("--transforms", nargs="+", metavar="TRANSFORM",
                            help="any of translation, scale, rotation (default: all three)")
    _add_fill_flag(invariance, "colour of uncovered pixels")


def _add_correspondence_flags(correspondence: argparse.ArgumentParser) -> None:
    correspondence.add_argument("--boxes", required=True, help="JSON or CSV file of part boxes")
    _add_layers_flag(correspondence, "ZFNet's 5 and 7; else the last conv block's output and the "
                                     "classifier's input")
    correspondence.add_argument("--random-draws", type=positive_int, default=5,
                                help="sets of random boxes per part (default 5)")
    correspondence.add_argument("--random-seed", type=non_negative_int, default=0)
    _add_fill_flag(correspondence, "mask colour")


def _add_filters_flags(filters: argparse.ArgumentParser) -> None:
    filters.add_argument("--compare-model", help="a second .keras model to show beside the first")
    filters.add_argument("--compare-preset", help="or a preset with random weights (e.g. alexnet)")
    _add_layer_flag(filters, "the first layer (a Conv2D's name, or ZFNet's number; default: the "
                             "first trainable Conv2D)")
    _add_layer_flag(filters, "the layer whose maps are projected over the data (default: ZFNet's "
                             "2, else the second conv block's output)", "--projection-layer")
    filters.add_argument("--dead-fraction", type=non_negative_float, default=0.05,
                         help="a filter is dead when its norm is at most this fraction of its layer's largest")


def _add_layer_features_flags(features: argparse.ArgumentParser) -> None:
    group = add_data_flags(features, required=True)
    group.add_argument("--train-limit", type=positive_int, help="use the first N training examples")
    group.add_argument("--test-limit", type=positive_int, help="use the first N test examples")
    _add_layers_flag(features, "ZFNet's 1-7; else each conv block's output and the classifier's input")
    features.add_argument("--classifiers", nargs="+", choices=("softmax", "svm"), default=["softmax", "svm"])
    features.add_argument("--max-dimensions", type=positive_int, default=4096,
                          help="conv maps are average-pooled to at most this many values (default 4096)")
    features.add_argument("-C", "--regularization", type=positive_float, default=1.0,
                          help="inverse regularization strength of both classifiers")


# -- data ------------------------------------------------------------------------------------


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


def _data(args, model):
    """`--dataset ...` or `--images ...` (default: scikit-image's sample photos) as the
    analysis' data, cut to `--limit`."""
    from zfnet_tf.analysis import AnalysisData, analysis_data
    from zfnet_tf.cli.common import images_from_args

    if args.dataset and getattr(args, "images", None):
        raise ValueError("give either --dataset or --images, not both")
    if args.dataset:
        return analysis_data(data_source_from_args(args, limit=args.limit), model)
    images, names = images_from_args(args, model)
    images, names = images[: args.limit], names[: args.limit]
    class_names = getattr(model, "class_names", None)
    labels = _labels_from_args(args, len(images), class_names)
    source = "images" if getattr(args, "images", None) else "sample photos"
    return AnalysisData.from_arrays(images, labels, names, class_names, source)


def _model_name(args) -> str:
    if args.model:
        return os.path.splitext(os.path.basename(args.model))[0]
    return args.keras_application or args.preset


def _report(record: dict) -> int:
    for path in record["files"]:
        print(f"wrote {path}")
    return 0


# -- commands --------------------------------------------------------------------------------


def run_top9(args: argparse.Namespace) -> int:
    """top-9 activations per feature map over a dataset, projected (Fig. 2)

    Writes top9_<layer>.png (pages _1, _2, ... for many maps) and top9_<layer>.json.
    """
    from zfnet_tf.analysis import Top9, Top9Params

    model = model_from_args(args)
    params = Top9Params(layer=args.layer, k=args.k, features=args.features, batch_size=args.batch_size,
                        maps_per_figure=args.maps_per_figure)
    return _report(Top9(model, params).run(_data(args, model)).save(args.out))


def run_occlusion(args: argparse.Namespace) -> int:
    """occlusion sensitivity maps (Fig. 7)

    Writes occlusion.png and occlusion.json.
    """
    from zfnet_tf.analysis import Occlusion, OcclusionParams

    params = OcclusionParams(layer=args.layer, patch_size=args.patch_size, stride=args.stride, fill=args.fill,
                             batch_size=args.batch_size)
    model = model_from_args(args)
    return _report(Occlusion(model, params).run(_data(args, model)).save(args.out))


def run_invariance(args: argparse.Namespace) -> int:
    """feature distance and class probability under translation/scale/rotation (Fig. 5)

    Writes invariance.png and invariance.json.
    """
    from zfnet_tf.analysis import Invariance, InvarianceParams

    transforms = {"transforms": tuple(args.transforms)} if args.transforms else {}
    params = InvarianceParams(layers=args.layers, fill=args.fill, batch_size=args.batch_size, **transforms)
    model = model_from_args(args)
    return _report(Invariance(model, params).run(_data(args, model)).save(args.out))


def run_correspondence(args: argparse.Namespace) -> int:
    """consistency of feature changes when masking the same part (Table 1)

    Writes correspondence.png and correspondence.json. The box file (JSON or CSV) lists image,
    part, top, left, bottom, right; image is a file (pixels of that file) or an index into
    --dataset (pixels of the model input).
    """
    from zfnet_tf.analysis import Correspondence, CorrespondenceParams, part_boxes

    params = CorrespondenceParams(layers=args.layers, fill=args.fill, random_draws=args.random_draws,
                                  seed=args.random_seed)
    model = model_from_args(args)
    analysis = Correspondence(model, params)  # checks the layers before any data is read
    dataset = data_source_from_args(args) if args.dataset else None
    return _report(analysis.run(part_boxes(args.boxes, model, dataset, args.images or ())).save(args.out))


def run_filters(args: argparse.Namespace) -> int:
    """first-layer filters, frequency bands, dead filters, second-layer projections;
    compare two models (Fig. 6)

    Writes filters.png, filters_<layer>.png (projections) and filters.json.
    """
    import keras

    from zfnet_tf.analysis import FilterAnalysis, FilterParams, compare_filters
    from zfnet_tf.config import PRESETS
    from zfnet_tf.models import build_model, load_model

    models = [(_model_name(args), model_from_args(args))]
    if args.compare_model and args.compare_preset:
        raise ValueError("give either --compare-model or --compare-preset, not both")
    if args.compare_model:
        other = os.path.splitext(os.path.basename(args.compare_model))[0]
        models.append((other, load_model(args.compare_model)))
    elif args.compare_preset:
        if args.compare_preset not in PRESETS:
            raise ValueError(f"unknown --compare-preset {args.compare_preset!r}; presets: {sorted(PRESETS)}")
        keras.utils.set_random_seed(args.seed)
        models.append((args.compare_preset, build_model(args.compare_preset)))
    params = FilterParams(layer=args.layer, projection_layer=args.projection_layer,
                          dead_fraction=args.dead_fraction, batch_size=args.batch_size)
    # Each model reads the data at its own input size.
    results = [FilterAnalysis(model, params, name=name).run(_data(args, model)) for name, model in models]
    return _report(compare_filters(results).save(args.out))


def run_layer_features(args: argparse.Namespace) -> int:
    """softmax and linear SVM accuracy on each layer's features (Table 7)

    Writes layer_features.png and layer_features.json. Trains on the dataset's train split,
    tests on its test split.
    """
    from zfnet_tf.analysis import LayerFeatures, LayerFeaturesParams

    model = model_from_args(args)
    params = LayerFeaturesParams(layers=args.layers, classifiers=tuple(args.classifiers),
                                 max_dimensions=args.max_dimensions, regularization=args.regularization,
                                 batch_size=args.batch_size)
    splits = {split: data_source_from_args(args, split, limit)
              for split, limit in (("train", args.train_limit), ("test", args.test_limit))}
    return _report(LayerFeatures(model, params).run(splits).save(args.out))


COMMANDS = (
    _analysis("top9", _add_top9_flags, run_top9),
    _analysis("occlusion", _add_occlusion_flags, run_occlusion, data_limit=3),
    _analysis("invariance", _add_invariance_flags, run_invariance, data_limit=3),
    _analysis("correspondence", _add_correspondence_flags, run_correspondence, batch_size=False),
    _analysis("filters", _add_filters_flags, run_filters, data_limit=500),
    _analysis("layer-features", _add_layer_features_flags, run_layer_features, data_limit=False),
)
