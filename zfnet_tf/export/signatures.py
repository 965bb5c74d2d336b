"""The SavedModel signatures of a ZFNet (DESIGN §5): classification, projections, features.

One `keras.export.ExportArchive` holds every endpoint. They all read the same variables, so
the SavedModel stores one copy of the weights: the deconvnet transposes the forward convs'
own kernels (Zeiler & Fergus, arXiv 1311.2901, Sec. 2.1) instead of copying them.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from zfnet_tf.data.datasets import resize_to_square
from zfnet_tf.deconv import Deconvnet
from zfnet_tf.models import get_backbone

CLASSIFY_SIGNATURES = ("serving_default", "classify_bytes")
FEATURES_SIGNATURE = "features"


def projection_signature_name(layer: int) -> str:
    return f"project_layer{layer}"


def signature_names(model: keras.Model) -> tuple[str, ...]:
    """Every signature `build_export_archive` writes for `model`, in order."""
    layers = get_backbone(model).config.conv_layers
    return (
        *CLASSIFY_SIGNATURES,
        *(projection_signature_name(layer) for layer in layers),
        FEATURES_SIGNATURE,
    )


def feature_output_names(model: keras.Model) -> tuple[str, ...]:
    """The outputs of the `features` signature: the top of each conv layer, then fc6, fc7.

    A conv layer's top is its pooled map (`pool{l}`) when it pools and its ReLU map
    (`conv{l}`) otherwise: the maps the deconvnet projects from, so `features` agrees with a
    projection's `activation` and `location`. The maps keep their `[N, h, w, C]` shape; the
    contrast-normalized copies and the unpooled maps below a pool are left out (they are
    larger and say nothing the pooled maps do not).
    """
    backbone = get_backbone(model)
    names = [
        f"pool{block.layer}" if block.pool else f"conv{block.layer}"
        for block in backbone.config.conv_blocks
    ]
    names += [n for n in backbone.feature_names if n.startswith("fc")]
    return tuple(names)


def decode_image_bytes(image_bytes: tf.Tensor, size: int, resize_size: int | None = None) -> tf.Tensor:
    """JPEG/PNG/GIF/BMP bytes `[N]` to float32 `[N, size, size, 3]` RGB 0-255, the way
    `zfnet_tf.data` prepares images: smaller side to `resize_size` (default `size`), then the
    centre `size` square (`resize_to_square`)."""

    def decode_one(data):
        # uint8 output scales 16-bit PNGs down to 0-255 instead of handing on 0-65535.
        image = tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)
        return resize_to_square(image, size, resize_size)

    return tf.map_fn(
        decode_one,
        image_bytes,
        fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32),
    )


def build_export_archive(model: keras.Model) -> keras.export.ExportArchive:
    """An `ExportArchive` with the signatures of DESIGN §5 for a ZFNet classifier.

    * `serving_default`: `images` float32 `[N, S, S, 3]` RGB 0-255 -> `logits`,
      `probabilities` float32 `[N, C]`.
    * `classify_bytes`: `image_bytes` string `[N]` (JPEG/PNG, any size; decoded, resized and
      cropped in the graph as the config says: `config.image_resize_size`) -> as
      `serving_default`.
    * `project_layer{l}` for each conv layer the model has: `images`, `feature` int32 `[N]`
      (-1: that image's strongest map) -> `reconstructions` float32 `[N, S, S, 3]`, `feature`
      int32 `[N]`, `activation` float32 `[N]`, `location` int32 `[N, 2]` (the strongest
      activation of that map, projected alone: `Deconvnet.project(..., mode="max")`).
    * `features`: `images` -> one float32 output per name of `feature_output_names`.

    Args:
        model: a `ZFNetImageClassifier` (logits out).
    """
    backbone = get_backbone(model)
    if backbone is model:
        raise ValueError("export needs the classifier (with its fc8 logits), not the backbone alone")
    config = backbone.config
    size = config.input_size
    deconvnet = Deconvnet(model)
    extractor = backbone.feature_extractor(feature_output_names(model))
    images_spec = tf.TensorSpec([None, size, size, 3], tf.float32, name="images")
    feature_spec = tf.TensorSpec([None], tf.int32, name="feature")

    def classify(images):
        logits = tf.cast(model(images, training=False), tf.float32)
        return {"logits": logits, "probabilities": tf.nn.softmax(logits)}

    def classify_bytes(image_bytes):
        return classify(decode_image_bytes(image_bytes, size, config.image_resize_size))

    def features(images):
        outputs = extractor(images, training=False)
        return {name: tf.cast(value, tf.float32) for name, value in outputs.items()}

    def projector(layer: int):
        def project(images, feature):
            outputs = deconvnet.project_tensors(images, feature[:, None], layer, "max")
            return {name: value[:, 0] for name, value in outputs.items()}

        return project

    archive = keras.export.ExportArchive()
    archive.add_endpoint("serving_default", classify, [images_spec])
    archive.add_endpoint(
        "classify_bytes", classify_bytes, [tf.TensorSpec([None], tf.string, name="image_bytes")]
    )
    for layer in config.conv_layers:
        archive.add_endpoint(projection_signature_name(layer), projector(layer), [images_spec, feature_spec])
    archive.add_endpoint(FEATURES_SIGNATURE, features, [images_spec])
    # Not `archive.track(model)`: it records the Keras variable wrappers next to the
    # tf.Variables the endpoints capture, and the checkpoint then holds every weight twice
    # (keras-team/keras#23553). The endpoints track what they use; this collection names
    # those same tf.Variables so `loaded.variables` lists the weights, stored once.
    archive.add_variable_collection("variables", [v.value for v in model.weights])
    return archive
