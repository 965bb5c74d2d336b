"""The SavedModel signatures of a classifier (docs/serving.md): classification, projections,
features, for a ZFNet or any Keras convnet the deconvnet supports.

One `keras.export.ExportArchive` holds every endpoint. They all read the same variables, so
the SavedModel stores one copy of the weights: the deconvnet transposes the forward convs'
own kernels (Zeiler & Fergus, arXiv 1311.2901, Sec. 2.1) instead of copying them.
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from zfnet_tf.data.datasets import resize_to_square
from zfnet_tf.deconv import Deconvnet, layer_key
from zfnet_tf.models import get_backbone, input_size

CLASSIFY_SIGNATURES = ("serving_default", "classify_bytes")
FEATURES_SIGNATURE = "features"


def projection_signature_name(layer: int | str) -> str:
    """`project_layer3` for ZFNet's layer 3, `project_block5_conv3` for a named layer."""
    return f"project_{layer_key(layer)}"


def projection_layers(model: keras.Model, layers: Sequence[int | str] | None = None) -> tuple[int | str, ...]:
    """The layers that get a `project_*` signature: `layers` (names, or ZFNet's 1-5), checked
    against the model, or by default ZFNet's 1-5 and for other models the last convolution
    before each change of map size (`Deconvnet.default_layers`)."""
    deconvnet = Deconvnet(model)
    layers = tuple(deconvnet.default_layers() if not layers else layers)
    keys = [layer_key(layer) for layer in layers]
    if len(set(keys)) != len(keys):
        raise ValueError(f"--project-layers names a layer twice: {list(layers)}")
    for layer in layers:
        deconvnet.receptive_field(layer)  # a clear error for a layer the model lacks or cannot project
    return layers


def signature_names(model: keras.Model, layers: Sequence[int | str] | None = None) -> tuple[str, ...]:
    """Every signature `build_export_archive` writes for `model`, in order."""
    return (
        *CLASSIFY_SIGNATURES,
        *(projection_signature_name(layer) for layer in projection_layers(model, layers)),
        FEATURES_SIGNATURE,
    )


def feature_output_names(model: keras.Model, layers: Sequence[int | str] | None = None) -> dict[str, int | str]:
    """The outputs of the `features` signature, `{output name: layer}`: the maps each
    projection selects from (for ZFNet `pool1`, `pool2`, `conv3`, `conv4`, `pool5`: pooled
    where the layer pools), so `features` agrees with a projection's `activation` and
    `location`, then ZFNet's fully connected `fc6`, `fc7`. The maps keep their `[N, h, w, C]`
    shape.
    """
    deconvnet = Deconvnet(model)
    names = {layer_key(deconvnet.layer_name(layer)): layer for layer in projection_layers(model, layers)}
    try:
        backbone = get_backbone(model)
    except ValueError:
        return names
    for name in backbone.feature_names:
        if name.startswith("fc"):
            names[name] = name
    return names


def classifier_outputs(model: keras.Model, images) -> dict[str, tf.Tensor]:
    """`{"logits", "probabilities"}` of a classifier; a model that ends in a softmax gives
    its probabilities, and their logarithm as logits."""
    outputs = tf.cast(model(images, training=False), tf.float32)
    last = model.layers[-1]
    while isinstance(last, keras.Model):
        last = last.layers[-1]
    if getattr(getattr(last, "activation", None), "__name__", None) == "softmax":
        return {"logits": tf.math.log(tf.maximum(outputs, 1e-30)), "probabilities": outputs}
    return {"logits": outputs, "probabilities": tf.nn.softmax(outputs)}


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


def build_export_archive(model: keras.Model, layers: Sequence[int | str] | None = None) -> keras.export.ExportArchive:
    """An `ExportArchive` with the signatures of docs/serving.md for a classifier.

    * `serving_default`: `images` float32 `[N, S, S, 3]` as the model takes them (RGB 0-255
      for ZFNet and `keras_application` models) -> `logits`, `probabilities` float32 `[N, C]`.
    * `classify_bytes`: `image_bytes` string `[N]` (JPEG/PNG, any size; decoded and resized
      in the graph) -> as `serving_default`.
    * `project_<layer>` for each of `projection_layers(model, layers)`: `images`, `feature`
      int32 `[N]` (-1: that image's strongest map) -> `reconstructions` float32 `[N, S, S, 3]`,
      `feature` int32 `[N]`, `activation` float32 `[N]`, `location` int32 `[N, 2]`, `box` int32
      `[N, 4]` (the strongest activation of that map projected alone, and the input box it sees:
      `Deconvnet.project(..., mode="max")`).
    * `features`: `images` -> one float32 output per name of `feature_output_names`.

    Args:
        model: a classifier (logits out; or probabilities, from a final softmax).
        layers: the projected layers (names, or ZFNet's 1-5); default: `projection_layers`.
    """
    layers = projection_layers(model, layers)
    size = input_size(model)
    channels = int(model.inputs[0].shape[-1])
    deconvnet = Deconvnet(model)
    feature_names = feature_output_names(model, layers)
    extractor = deconvnet.activation_function(list(feature_names.values()))
    canonical = {deconvnet.layer_name(layer): name for name, layer in feature_names.items()}
    images_spec = tf.TensorSpec([None, size, size, channels], tf.float32, name="images")
    feature_spec = tf.TensorSpec([None], tf.int32, name="feature")

    def classify(images):
        return classifier_outputs(model, images)

    def classify_bytes(image_bytes):
        return classify(decode_image_bytes(image_bytes, size))

    def features(images):
        outputs = extractor(images)
        return {canonical[name]: tf.cast(value, tf.float32) for name, value in outputs.items()}

    def projector(layer):
        def project(images, feature):
            outputs = deconvnet.project_tensors(images, feature[:, None], layer, "max")
            return {name: value[:, 0] for name, value in outputs.items()}

        return project

    archive = keras.export.ExportArchive()
    archive.add_endpoint("serving_default", classify, [images_spec])
    archive.add_endpoint(
        "classify_bytes", classify_bytes, [tf.TensorSpec([None], tf.string, name="image_bytes")]
    )
    for layer in layers:
        archive.add_endpoint(projection_signature_name(layer), projector(layer), [images_spec, feature_spec])
    archive.add_endpoint(FEATURES_SIGNATURE, features, [images_spec])
    # Not `archive.track(model)`: it records the Keras variable wrappers next to the
    # tf.Variables the endpoints capture, and the checkpoint then holds every weight twice
    # (keras-team/keras#23553). The endpoints track what they use; this collection names
    # those same tf.Variables so `loaded.variables` lists the weights, stored once.
    archive.add_variable_collection("variables", [v.value for v in model.weights])
    return archive
