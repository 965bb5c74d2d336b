"""The SavedModel signatures of a classifier (docs/serving.md): classification, projections,
features, and what the explorer page needs, for a ZFNet or any Keras convnet the deconvnet
supports.

One `keras.export.ExportArchive` holds every endpoint. They all read the same variables, so
the SavedModel stores one copy of the weights: the deconvnet transposes the forward convs'
own kernels (Zeiler & Fergus, arXiv 1311.2901, Sec. 2.1) instead of copying them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import keras
import tensorflow as tf

from zfnet_tf.data import resize_to_square
from zfnet_tf.data.headers import DEFAULT_MAX_IMAGE_PIXELS, assert_within_pixels, check_max_pixels
from zfnet_tf.deconv import Deconvnet, layer_key, neutral_color
from zfnet_tf.deconv.graph import ends_in_softmax
from zfnet_tf.deconv.strongest import map_peaks
from zfnet_tf.models import ZFNetBackbone, image_transform, input_size, zfnet_backbone
from zfnet_tf.probing import class_probabilities, fill_boxes

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
            its `occlusion` output (`total_<key>`): "layer1" ... "layer5" for ZFNet's layers,
            the layer's name otherwise ("block5_conv3").
        layer: what `Deconvnet` takes (ZFNet's 1-5, or the name).
        top_name: the output of the `features` signature holding its maps (the maps a
            projection selects from: `pool1`, `conv3`, ... for ZFNet).
    """

    key: str
    layer: int | str
    top_name: str


def projectable_layers(model: keras.Model, layers: Sequence[int | str] | None = None) -> tuple[ProjectableLayer, ...]:
    """The layers every per-layer signature is written for: `layers` (names, or ZFNet's 1-5),
    checked against the model, or by default ZFNet's 1-5 and, for other models, the last
    convolution before each change of map size (`Deconvnet.default_layers`)."""
    deconvnet = Deconvnet(model)
    chosen = tuple(deconvnet.default_layers() if not layers else layers)
    result = []
    for layer in chosen:
        deconvnet.receptive_field(layer)  # a clear error for a layer the model lacks or cannot project
        result.append(ProjectableLayer(layer_key(layer), layer, layer_key(deconvnet.layer_name(layer))))
    keys = [layer.key for layer in result]
    if len(set(keys)) != len(keys):
        raise ValueError(f"the projected layers name a layer twice: {list(chosen)}")
    return tuple(result)


def projection_signature_name(layer: int | str | ProjectableLayer, mode: str = "max") -> str:
    """`project_layer3` / `project_block5_conv3` (the strongest activation alone) or
    `project_map_layer3` (the whole map)."""
    key = layer.key if isinstance(layer, ProjectableLayer) else layer_key(layer)
    if mode not in ("max", "map"):
        raise ValueError(f"mode must be 'max' or 'map', got {mode!r}")
    return f"project_{key}" if mode == "max" else f"project_map_{key}"


def maps_signature_name(layer: ProjectableLayer) -> str:
    return f"maps_{layer.key}"


def occlusion_output_name(layer: ProjectableLayer) -> str:
    return f"total_{layer.key}"


def signature_names(model: keras.Model, layers: Sequence[int | str] | None = None) -> tuple[str, ...]:
    """Every signature `build_export_archive` writes for `model`, in order."""
    projectable = projectable_layers(model, layers)
    return (
        *CLASSIFY_SIGNATURES,
        *(projection_signature_name(layer) for layer in projectable),
        FEATURES_SIGNATURE,
        DECODE_SIGNATURE,
        CLASS_NAMES_SIGNATURE,
        *(maps_signature_name(layer) for layer in projectable),
        *(projection_signature_name(layer, "map") for layer in projectable),
        OCCLUSION_SIGNATURE,
    )


def feature_output_names(model: keras.Model, layers: Sequence[int | str] | None = None) -> dict[str, int | str]:
    """The outputs of the `features` signature, `{output name: layer}`: the maps each
    projection selects from (`projectable_layers`' `top_name`s), so `features` agrees with a
    projection's `activation` and `location`, then ZFNet's fully connected `fc6`, `fc7`. The
    maps keep their `[N, h, w, C]` shape; ZFNet's contrast-normalized copies and the unpooled
    maps below a pool are left out (larger, and saying nothing the pooled maps do not).
    """
    names = {layer.top_name: layer.layer for layer in projectable_layers(model, layers)}
    backbone = zfnet_backbone(model)
    for name in backbone.feature_names if backbone is not None else ():
        if name.startswith("fc"):
            names[name] = name
    return names


def class_names_of(model: keras.Model) -> list[str]:
    """`model.class_names`, else "class_0", "class_1", ..."""
    names = getattr(model, "class_names", None)
    if names:
        return [str(n) for n in names]
    return [f"class_{i}" for i in range(int(model.outputs[0].shape[-1]))]


def class_outputs(outputs, softmax: bool) -> dict[str, tf.Tensor]:
    """`{"logits", "probabilities"}` from a classifier's outputs; a model that ends in a
    softmax gives its probabilities, and their logarithm as logits."""
    outputs = tf.cast(outputs, tf.float32)
    logits = tf.math.log(tf.maximum(outputs, 1e-30)) if softmax else outputs
    return {"logits": logits, "probabilities": class_probabilities(outputs, softmax)}


def classifier_outputs(model: keras.Model, images) -> dict[str, tf.Tensor]:
    """`class_outputs` of the model on `images`."""
    return class_outputs(model(images, training=False), ends_in_softmax(model))


def thumbnail_factor(height: int, width: int) -> int:
    """The max-pool window (and stride) that brings a map's sides to `MAP_THUMBNAIL_SIDE` or less."""
    return max(1, math.ceil(max(height, width) / MAP_THUMBNAIL_SIDE))


def decode_image_bytes(
    image_bytes: tf.Tensor,
    size: int,
    resize_size: int | None = None,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> tf.Tensor:
    """JPEG/PNG/GIF/BMP/WebP bytes `[N]` to float32 `[N, size, size, 3]` RGB 0-255, the way
    `zfnet_tf.data` prepares images: smaller side to `resize_size` (default `size`), then the
    centre `size` square (`resize_to_square`).

    Each image's header is read first (`zfnet_tf.data.headers`): one of more than
    `max_pixels` fails with INVALID_ARGUMENT naming its size and the limit before anything
    decodes it. Images are decoded one after another, so a request holds one decoded image
    at a time however many it carries.
    """

    def decode_one(data):
        with tf.control_dependencies([assert_within_pixels(data, max_pixels)]):
            # uint8 output scales 16-bit PNGs down to 0-255 instead of handing on 0-65535.
            image = tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)
        return resize_to_square(image, size, resize_size)

    return tf.map_fn(
        decode_one,
        image_bytes,
        fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32),
        parallel_iterations=1,
    )


def map_thumbnails(top: tf.Tensor) -> dict[str, tf.Tensor]:
    """Every map of `top` float32 `[N, h, w, C]` as a small int32 0-255 picture, and its maximum.

    Maps are shrunk to the maxima of `thumbnail_factor`-sided blocks (a peak survives it, so
    the brightest pixel is the map's maximum) and each is scaled by its own maximum: weak maps
    keep their pattern, and `maximum` says how strong each is. A map whose maximum is 0 (or
    less) is all 0.
    """
    height, width = top.shape[1], top.shape[2]
    maximum = map_peaks(top)[0]
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


def decode_endpoint(size: int, resize_size: int | None = None, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS):
    """`decode_bytes`: `image_bytes` string `[N]` -> `pixels` int32 `[N, S, S, 3]`: the
    image as the model sees it (decoded, resized and cropped as by `classify_bytes`, images
    over `max_pixels` refused alike), rounded to whole RGB levels so a page can show it and
    send it back as short JSON."""

    def decode(image_bytes):
        pixels = tf.round(decode_image_bytes(image_bytes, size, resize_size, max_pixels))
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


def maps_endpoint(deconvnet: Deconvnet, layer: ProjectableLayer, images_spec: tf.TensorSpec):
    """`maps_<key>`: `images` -> `maps` int32 `[N, h', w', C]` thumbnails of every map of the
    layer (see `map_thumbnails`) and `maximum` float32 `[N, C]`."""
    extractor = deconvnet.activation_function([layer.layer])

    def maps(images):
        (top,) = extractor(images).values()
        return map_thumbnails(tf.cast(top, tf.float32))

    return maps, [images_spec]


def projection_endpoint(deconvnet: Deconvnet, layer: ProjectableLayer, mode: str, images_spec: tf.TensorSpec):
    """`project_<key>` (mode "max": the map's strongest activation alone, the paper's
    figures) or `project_map_<key>` (mode "map": the whole map): `images`, `feature` int32
    `[N]` (-1: that image's strongest map) -> `reconstructions`, `feature`, `activation`,
    `location`, `box` (the receptive field of `location`) as `Deconvnet.project`."""

    def project(images, feature):
        outputs = deconvnet.project_tensors(images, feature[:, None], layer.layer, mode)
        return {name: value[:, 0] for name, value in outputs.items()}

    return project, [images_spec, tf.TensorSpec([None], tf.int32, name="feature")]


def occlude(images: tf.Tensor, top: tf.Tensor, left: tf.Tensor, patch_size: tf.Tensor, fill) -> tf.Tensor:
    """float32 `[N, P, S, S, 3]`: image n with a `patch_size[n]` square of `fill` whose
    top-left pixel is `(top[n, p], left[n, p])` (it may hang over the edges)."""
    side = patch_size[:, None]
    return fill_boxes(images[:, None], top, left, top + side, left + side, fill)


def occlusion_endpoint(
    model: keras.Model, deconvnet: Deconvnet, layers: tuple[ProjectableLayer, ...], images_spec: tf.TensorSpec
):
    """`occlusion` (the paper's Fig. 7): `images` `[N, S, S, 3]`, `top` and `left` int32
    `[N, P]` (top-left pixels of P positions of the square), `patch_size` int32 `[N]` ->
    `probabilities` float32 `[N, P, C]` and, per projectable layer, `total_<key>` float32
    `[N, P, maps]`: each map's total activation (the paper's Fig. 7 b) with the square there.

    The occluded copies are made in the graph, so a request carries the image once and a
    row of positions, not P images. The square is the model's neutral colour (the grey its
    input normalization maps to zero, `neutral_color`), as `zfnet-tf occlusion`'s default.
    """
    size = input_size(model)
    fill = [float(v) for v in neutral_color(model)]
    output_name = deconvnet.graph.output_name()
    measured = deconvnet.activation_function([*(layer.layer for layer in layers), output_name])
    names = {deconvnet.layer_name(layer.layer): layer for layer in layers}
    softmax = ends_in_softmax(model)
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
        outputs = measured(tf.reshape(occluded, [-1, size, size, images.shape[-1]]))

        def per_position(value):
            return tf.reshape(value, tf.concat([[count, positions], tf.shape(value)[1:]], axis=0))

        result = {"probabilities": per_position(class_outputs(outputs[output_name], softmax)["probabilities"])}
        for name, layer in names.items():
            value = tf.cast(outputs[name], tf.float32)
            totals = tf.reduce_sum(value, axis=[1, 2]) if value.shape.rank == 4 else value
            result[occlusion_output_name(layer)] = per_position(totals)
        return result

    position_spec = [tf.TensorSpec([None, None], tf.int32, name=name) for name in ("top", "left")]
    return occlusion, [images_spec, *position_spec, tf.TensorSpec([None], tf.int32, name="patch_size")]


def traced_once(function, input_signature: list[tf.TensorSpec]):
    """`function` traced now, once, behind a thin function that calls that graph.

    `ExportArchive.write_out` traces each endpoint twice: once to list the variables it
    uses, and again inside `tf.saved_model.save`, whose save context is part of
    `tf.function`'s cache key. Tracing a deconvnet's projections is most of an export's
    time; with this, both of those traces only record a call to the graph traced here.
    """
    concrete = tf.function(function, input_signature=input_signature, autograph=False).get_concrete_function()

    def call_traced(*args):
        return concrete(*args)

    return call_traced


def build_export_archive(
    model: keras.Model,
    layers: Sequence[int | str] | None = None,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> keras.export.ExportArchive:
    """An `ExportArchive` with the signatures of docs/serving.md for a classifier.

    * `serving_default`: `images` float32 `[N, S, S, 3]` as the model takes them (RGB 0-255
      for ZFNet and `keras_application` models) -> `logits`, `probabilities` float32 `[N, C]`.
    * `classify_bytes`: `image_bytes` string `[N]` (JPEG/PNG/GIF/BMP/WebP of at most
      `max_image_pixels` pixels by their headers; decoded and resized in the graph) -> as
      `serving_default`.
    * `project_<key>` for each of `projectable_layers(model, layers)` (`project_layer1`, ...,
      `project_block5_conv3`): see `projection_endpoint`.
    * `features`: `images` -> one float32 output per name of `feature_output_names`.
    * for the explorer page: `decode_bytes` (`decode_endpoint`), `class_names`
      (`class_names_endpoint`), `maps_<key>` (`maps_endpoint`), `project_map_<key>`
      (`projection_endpoint` in "map" mode) and `occlusion` (`occlusion_endpoint`).

    Args:
        model: a classifier (logits out; or probabilities, from a final softmax).
        layers: the projected layers (names, or ZFNet's 1-5); default: `projectable_layers`.
        max_image_pixels: the largest image (width x height, read from its header) the
            signatures taking encoded images decode; a larger one fails with INVALID_ARGUMENT
            before it is decoded, so every server of the export refuses it.
    """
    check_max_pixels(max_image_pixels)
    if isinstance(model, ZFNetBackbone):
        raise ValueError("export needs the classifier (with its fc8 logits), not the backbone alone")
    projectable = projectable_layers(model, layers)
    size = input_size(model)
    channels = int(model.inputs[0].shape[-1])
    resize_size = image_transform(model)[1]
    deconvnet = Deconvnet(model)
    feature_names = feature_output_names(model, layers)
    extractor = deconvnet.activation_function(list(feature_names.values()))
    output_names = {deconvnet.layer_name(layer): name for name, layer in feature_names.items()}
    images_spec = tf.TensorSpec([None, size, size, channels], tf.float32, name="images")

    def classify(images):
        return classifier_outputs(model, images)

    def classify_bytes(image_bytes):
        return classify(decode_image_bytes(image_bytes, size, resize_size, max_image_pixels))

    def features(images):
        outputs = extractor(images)
        return {output_names[name]: tf.cast(value, tf.float32) for name, value in outputs.items()}

    endpoints = {
        "serving_default": (classify, [images_spec]),
        "classify_bytes": (classify_bytes, [tf.TensorSpec([None], tf.string, name="image_bytes")]),
    }
    for layer in projectable:
        endpoints[projection_signature_name(layer)] = projection_endpoint(deconvnet, layer, "max", images_spec)
    endpoints[FEATURES_SIGNATURE] = (features, [images_spec])
    endpoints[DECODE_SIGNATURE] = decode_endpoint(size, resize_size, max_image_pixels)
    endpoints[CLASS_NAMES_SIGNATURE] = class_names_endpoint(class_names_of(model))
    for layer in projectable:
        endpoints[maps_signature_name(layer)] = maps_endpoint(deconvnet, layer, images_spec)
    for layer in projectable:
        endpoints[projection_signature_name(layer, "map")] = projection_endpoint(deconvnet, layer, "map", images_spec)
    endpoints[OCCLUSION_SIGNATURE] = occlusion_endpoint(model, deconvnet, projectable, images_spec)
    assert tuple(endpoints) == signature_names(model, layers), "signature_names lists what is written"

    archive = keras.export.ExportArchive()
    for name, (function, input_signature) in endpoints.items():
        archive.add_endpoint(name, traced_once(function, input_signature), input_signature)
    # Not `archive.track(model)`: it records the Keras variable wrappers next to the
    # tf.Variables the endpoints capture, and the checkpoint then holds every weight twice
    # (keras-team/keras#23553). The endpoints track what they use; this collection names
    # those same tf.Variables so `loaded.variables` lists the weights, stored once.
    archive.add_variable_collection("variables", [v.value for v in model.weights])
    return archive
