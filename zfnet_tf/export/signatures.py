"""The SavedModel signatures of a ZFNet (DESIGN §5): classification, projections, features.

One `keras.export.ExportArchive` holds every endpoint. They all read the same variables, so
the SavedModel stores one copy of the weights: the deconvnet transposes the forward convs'
own kernels (Zeiler & Fergus, arXiv 1311.2901, Sec. 2.1) instead of copying them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import tensorflow as tf

from zfnet_tf.data.datasets import resize_to_square
from zfnet_tf.deconv import Deconvnet, receptive_field
from zfnet_tf.models import classifier_with_features, get_backbone

CLASSIFY_SIGNATURES = ("serving_default", "classify_bytes")
FEATURES_SIGNATURE = "features"
# What the explorer page (`zfnet_tf.serving.explorer`) needs beyond classes and projections.
DECODE_SIGNATURE = "decode_bytes"
CLASS_NAMES_SIGNATURE = "class_names"
OCCLUSION_SIGNATURE = "occlusion"
# `maps_<key>` thumbnails: no side longer than this (JSON size: a 224 zfnet's layer 1 is
# 55x55x96, keras.applications VGG16's block1 224x224x64).
MAP_THUMBNAIL_SIDE = 64


@dataclass(frozen=True)
class ProjectableLayer:
    """A layer the deconvnet projects from, and the names the export gives it.

    Attributes:
        key: names its signatures (`project_<key>`, `project_map_<key>`, `maps_<key>`) and
            its `occlusion` output (`total_<key>`): "layer1" ... "layer5" for ZFNet.
        layer: what `Deconvnet` and `receptive_field` take.
        top_name: the backbone output holding its top maps (the maps a projection selects
            from; an output of the `features` signature).
    """

    key: str
    layer: int
    top_name: str


def projectable_layers(model: keras.Model) -> tuple[ProjectableLayer, ...]:
    """The layers every per-layer signature is written for, bottom to top.

    A conv layer's top is its pooled map (`pool{l}`) when it pools and its ReLU map
    (`conv{l}`) otherwise: the maps the deconvnet projects from.
    """
    return tuple(
        ProjectableLayer(f"layer{block.layer}", block.layer, f"pool{block.layer}" if block.pool else f"conv{block.layer}")
        for block in get_backbone(model).config.conv_blocks
    )


def projection_signature_name(layer: int | ProjectableLayer, mode: str = "max") -> str:
    """`project_layer3` (the strongest activation alone) or `project_map_layer3` (the whole map)."""
    key = layer.key if isinstance(layer, ProjectableLayer) else f"layer{layer}"
    if mode not in ("max", "map"):
        raise ValueError(f"mode must be 'max' or 'map', got {mode!r}")
    return f"project_{key}" if mode == "max" else f"project_map_{key}"


def maps_signature_name(layer: ProjectableLayer) -> str:
    return f"maps_{layer.key}"


def occlusion_output_name(layer: ProjectableLayer) -> str:
    return f"total_{layer.key}"


def signature_names(model: keras.Model) -> tuple[str, ...]:
    """Every signature `build_export_archive` writes for `model`, in order."""
    layers = projectable_layers(model)
    return (
        *CLASSIFY_SIGNATURES,
        *(projection_signature_name(layer) for layer in layers),
        FEATURES_SIGNATURE,
        DECODE_SIGNATURE,
        CLASS_NAMES_SIGNATURE,
        *(maps_signature_name(layer) for layer in layers),
        *(projection_signature_name(layer, "map") for layer in layers),
        OCCLUSION_SIGNATURE,
    )


def feature_output_names(model: keras.Model) -> tuple[str, ...]:
    """The outputs of the `features` signature: the top of each conv layer, then fc6, fc7.

    The tops are `projectable_layers`' maps, so `features` agrees with a projection's
    `activation` and `location`. The maps keep their `[N, h, w, C]` shape; the
    contrast-normalized copies and the unpooled maps below a pool are left out (they are
    larger and say nothing the pooled maps do not).
    """
    names = [layer.top_name for layer in projectable_layers(model)]
    names += [n for n in get_backbone(model).feature_names if n.startswith("fc")]
    return tuple(names)


def class_names_of(model: keras.Model) -> list[str]:
    """`model.class_names`, else "class_0", "class_1", ..."""
    names = getattr(model, "class_names", None)
    if names:
        return [str(n) for n in names]
    return [f"class_{i}" for i in range(int(model.output.shape[-1]))]


def thumbnail_factor(height: int, width: int) -> int:
    """The max-pool window (and stride) that brings a map's sides to `MAP_THUMBNAIL_SIDE` or less."""
    return max(1, math.ceil(max(height, width) / MAP_THUMBNAIL_SIDE))


def decode_image_bytes(image_bytes: tf.Tensor, size: int) -> tf.Tensor:
    """JPEG/PNG/GIF/BMP bytes `[N]` to float32 `[N, size, size, 3]` RGB 0-255, the way
    `zfnet_tf.data` prepares images: smaller side to `size`, then the centre square."""

    def decode_one(data):
        # uint8 output scales 16-bit PNGs down to 0-255 instead of handing on 0-65535.
        image = tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)
        return resize_to_square(image, size)

    return tf.map_fn(
        decode_one,
        image_bytes,
        fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32),
    )


def receptive_field_box(model: keras.Model, layer: ProjectableLayer, location: tf.Tensor) -> tf.Tensor:
    """int32 `[..., 4]` (top, left, bottom, right) input box, bottom/right exclusive and
    clipped to the image, of the units at `location` int32 `[..., 2]` (row, column) of the
    layer's top maps: `receptive_field(model, layer).box` in the graph."""
    field = receptive_field(model, layer.layer)
    corner = field.start + location * field.jump
    box = tf.concat([corner, corner + field.size], axis=-1)
    return tf.clip_by_value(box, 0, field.input_size)


def map_thumbnails(top: tf.Tensor) -> dict[str, tf.Tensor]:
    """Every map of `top` float32 `[N, h, w, C]` as a small int32 0-255 picture, and its maximum.

    Maps are shrunk to the maxima of `thumbnail_factor`-sided blocks (a peak survives it, so
    the brightest pixel is the map's maximum) and each is scaled by its own maximum: weak maps keep their pattern,
    and `maximum` says how strong each is. A map whose maximum is 0 (or less) is all 0.
    """
    height, width = top.shape[1], top.shape[2]
    maximum = tf.reduce_max(top, axis=[1, 2])
    factor = thumbnail_factor(height, width)
    if factor > 1:
        # Blocks from the top-left corner ("SAME" pooling would centre them); the last ones
        # hold fewer pixels.
        padding = [[0, 0], [0, -height % factor], [0, -width % factor], [0, 0]]
        top = tf.pad(top, padding, constant_values=float("-inf"))
        top = tf.nn.max_pool2d(top, factor, factor, "VALID")
    scale = tf.maximum(maximum, 0.0)[:, None, None, :]
    levels = tf.round(tf.clip_by_value(tf.math.divide_no_nan(top, scale), 0.0, 1.0) * 255.0)
    return {"maps": tf.cast(levels, tf.int32), "maximum": maximum}


def decode_endpoint(size: int):
    """`decode_bytes`: `image_bytes` string `[N]` -> `pixels` int32 `[N, S, S, 3]`: the
    image as the model sees it (decoded, resized and cropped as by `classify_bytes`),
    rounded to whole RGB levels so a page can show it and send it back as short JSON."""

    def decode(image_bytes):
        pixels = tf.round(decode_image_bytes(image_bytes, size))
        return {"pixels": tf.cast(pixels, tf.int32)}

    return decode, [tf.TensorSpec([None], tf.string, name="image_bytes")]


def class_names_endpoint(names: list[str]):
    """`class_names`: `class_index` int32 `[N]` -> `class_name` string `[N]`.

    The labels as a signature, because `tensorflow_model_server`'s metadata does not carry
    them (this project's server sends them with the metadata as well).
    """
    table = tf.constant(names, tf.string)
    message = f"class_index must be in [0, {len(names)})"

    def lookup(class_index):
        checks = [
            tf.debugging.assert_greater_equal(class_index, 0, message=message),
            tf.debugging.assert_less(class_index, len(names), message=message),
        ]
        with tf.control_dependencies(checks):
            return {"class_name": tf.gather(table, class_index)}

    return lookup, [tf.TensorSpec([None], tf.int32, name="class_index")]


def maps_endpoint(model: keras.Model, layer: ProjectableLayer, images_spec: tf.TensorSpec):
    """`maps_<key>`: `images` -> `maps` int32 `[N, h', w', C]` thumbnails of every top map of
    the layer (see `map_thumbnails`) and `maximum` float32 `[N, C]`."""
    extractor = get_backbone(model).feature_extractor([layer.top_name])

    def maps(images):
        top = extractor(images, training=False)[layer.top_name]
        return map_thumbnails(tf.cast(top, tf.float32))

    return maps, [images_spec]


def projection_endpoint(
    model: keras.Model, deconvnet: Deconvnet, layer: ProjectableLayer, mode: str, images_spec: tf.TensorSpec
):
    """`project_<key>` (mode "max": the map's strongest activation alone, the paper's
    figures) or `project_map_<key>` (mode "map": the whole map): `images`, `feature` int32
    `[N]` (-1: that image's strongest map) -> `reconstructions`, `feature`, `activation`,
    `location` as `Deconvnet.project`, and `box` int32 `[N, 4]`, the receptive field of
    `location` (see `receptive_field_box`)."""

    def project(images, feature):
        outputs = deconvnet.project_tensors(images, feature[:, None], layer.layer, mode)
        outputs = {name: value[:, 0] for name, value in outputs.items()}
        outputs["box"] = receptive_field_box(model, layer, outputs["location"])
        return outputs

    return project, [images_spec, tf.TensorSpec([None], tf.int32, name="feature")]


def occlude(images: tf.Tensor, top: tf.Tensor, left: tf.Tensor, patch_size: tf.Tensor, fill) -> tf.Tensor:
    """float32 `[N, P, S, S, 3]`: image n with a `patch_size[n]` square of `fill` whose
    top-left pixel is `(top[n, p], left[n, p])` (it may hang over the edges)."""
    size = images.shape[1]
    pixels = tf.range(size)[None, None, :]
    bottom = (top + patch_size[:, None])[:, :, None]
    right = (left + patch_size[:, None])[:, :, None]
    inside_rows = (pixels >= top[:, :, None]) & (pixels < bottom)  # [N, P, S]
    inside_cols = (pixels >= left[:, :, None]) & (pixels < right)
    mask = inside_rows[:, :, :, None, None] & inside_cols[:, :, None, :, None]
    return tf.where(mask, tf.constant(fill, tf.float32), images[:, None])


def occlusion_endpoint(model: keras.Model, layers: tuple[ProjectableLayer, ...], images_spec: tf.TensorSpec):
    """`occlusion` (the paper's Fig. 7): `images` `[N, S, S, 3]`, `top` and `left` int32
    `[N, P]` (top-left pixels of P positions of the square), `patch_size` int32 `[N]` ->
    `probabilities` float32 `[N, P, C]` and, per projectable layer, `total_<key>` float32
    `[N, P, maps]`: each map's total activation (the paper's Fig. 7 b) with the square there.

    The occluded copies are made in the graph, so a request carries the image once and a
    row of positions, not P images. The square is the model's mean colour, the grey its
    input normalization maps to zero (as `zfnet-tf occlusion`'s default).
    """
    config = get_backbone(model).config
    size = config.input_size
    fill = [float(v) for v in config.mean_rgb]
    measured = classifier_with_features(model, [layer.top_name for layer in layers])
    message = f"patch_size must be between 1 and {size}"  # no ']': servers read an assertion's message up to the first one

    def occlusion(images, top, left, patch_size):
        checks = [
            tf.debugging.assert_greater_equal(patch_size, 1, message=message),
            tf.debugging.assert_less_equal(patch_size, size, message=message),
            tf.debugging.assert_equal(
                tf.shape(top), tf.shape(left), message="top and left must have the same shape [N, P]"
            ),
        ]
        with tf.control_dependencies(checks):
            occluded = occlude(images, top, left, patch_size, fill)
        count, positions = tf.shape(top)[0], tf.shape(top)[1]
        outputs = measured(tf.reshape(occluded, [-1, size, size, 3]), training=False)

        def per_position(value):
            return tf.reshape(value, tf.concat([[count, positions], tf.shape(value)[1:]], axis=0))

        result = {"probabilities": per_position(tf.nn.softmax(tf.cast(outputs["logits"], tf.float32)))}
        for layer in layers:
            totals = tf.reduce_sum(tf.cast(outputs[layer.top_name], tf.float32), axis=[1, 2])
            result[occlusion_output_name(layer)] = per_position(totals)
        return result

    position_spec = [tf.TensorSpec([None, None], tf.int32, name=name) for name in ("top", "left")]
    return occlusion, [images_spec, *position_spec, tf.TensorSpec([None], tf.int32, name="patch_size")]


def build_export_archive(model: keras.Model) -> keras.export.ExportArchive:
    """An `ExportArchive` with the signatures of DESIGN §5 for a ZFNet classifier.

    * `serving_default`: `images` float32 `[N, S, S, 3]` RGB 0-255 -> `logits`,
      `probabilities` float32 `[N, C]`.
    * `classify_bytes`: `image_bytes` string `[N]` (JPEG/PNG, any size; decoded and resized
      in the graph) -> as `serving_default`.
    * `project_<key>` for each of `projectable_layers` (`project_layer1` ...): see
      `projection_endpoint`.
    * `features`: `images` -> one float32 output per name of `feature_output_names`.
    * for the explorer page: `decode_bytes` (`decode_endpoint`), `class_names`
      (`class_names_endpoint`), `maps_<key>` (`maps_endpoint`), `project_map_<key>`
      (`projection_endpoint` in "map" mode) and `occlusion` (`occlusion_endpoint`).

    Args:
        model: a `ZFNetImageClassifier` (logits out).
    """
    backbone = get_backbone(model)
    if backbone is model:
        raise ValueError("export needs the classifier (with its fc8 logits), not the backbone alone")
    size = backbone.config.input_size
    layers = projectable_layers(model)
    deconvnet = Deconvnet(model)
    extractor = backbone.feature_extractor(feature_output_names(model))
    images_spec = tf.TensorSpec([None, size, size, 3], tf.float32, name="images")

    def classify(images):
        logits = tf.cast(model(images, training=False), tf.float32)
        return {"logits": logits, "probabilities": tf.nn.softmax(logits)}

    def classify_bytes(image_bytes):
        return classify(decode_image_bytes(image_bytes, size))

    def features(images):
        outputs = extractor(images, training=False)
        return {name: tf.cast(value, tf.float32) for name, value in outputs.items()}

    endpoints = {
        "serving_default": (classify, [images_spec]),
        "classify_bytes": (classify_bytes, [tf.TensorSpec([None], tf.string, name="image_bytes")]),
    }
    for layer in layers:
        endpoints[projection_signature_name(layer)] = projection_endpoint(model, deconvnet, layer, "max", images_spec)
    endpoints[FEATURES_SIGNATURE] = (features, [images_spec])
    endpoints[DECODE_SIGNATURE] = decode_endpoint(size)
    endpoints[CLASS_NAMES_SIGNATURE] = class_names_endpoint(class_names_of(model))
    for layer in layers:
        endpoints[maps_signature_name(layer)] = maps_endpoint(model, layer, images_spec)
    for layer in layers:
        endpoints[projection_signature_name(layer, "map")] = projection_endpoint(
            model, deconvnet, layer, "map", images_spec
        )
    endpoints[OCCLUSION_SIGNATURE] = occlusion_endpoint(model, layers, images_spec)
    assert tuple(endpoints) == signature_names(model), "signature_names lists what is written"

    archive = keras.export.ExportArchive()
    for name, (function, input_signature) in endpoints.items():
        archive.add_endpoint(name, function, input_signature)
    # Not `archive.track(model)`: it records the Keras variable wrappers next to the
    # tf.Variables the endpoints capture, and the checkpoint then holds every weight twice
    # (keras-team/keras#23553). The endpoints track what they use; this collection names
    # those same tf.Variables so `loaded.variables` lists the weights, stored once.
    archive.add_variable_collection("variables", [v.value for v in model.weights])
    return archive
