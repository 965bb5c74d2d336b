"""A frozen layer of any model as a feature extractor, with a cache so a protocol costs one pass.

The paper keeps layers 1-7 of the ImageNet model fixed and trains only a new softmax (Sec. 5.1),
so every image's features are the same in every split and for every N: they are computed once
for the whole pool and kept in memory, and optionally on disk keyed by the model's weights, the
layer and the image list, so that a second run (another C, more splits) computes nothing.

The features are one layer's output, named (`--layer`): by default the layer that feeds the
classifier (ZFNet's fc7, VGG16's `fc2`, ResNet50's `avg_pool`). A convolutional layer's maps
are average-pooled to the coarsest square grid within `max_dimensions` values, as the Table 7
analysis does (`zfnet_tf.analysis.layer_features.pooling_window`), then flattened.
"""

from __future__ import annotations

import hashlib
import math
import os

import keras
import numpy as np
import tensorflow as tf

from zfnet_tf.files import atomic_path


def feature_layer_name(model: keras.Model, layer: int | str | None = None) -> str:
    """The name of the layer whose output the features are.

    ZFNet: one of its backbone's `feature_names` (`"fc7"`, `"pool5"`, ...) or a paper layer
    number 1-7 (`zfnet_tf.analysis.feature_layers.output_name`); default its last fully
    connected layer. Any other model: any layer of its graph, nested models opened (a name
    unique across them, or a path `"vgg16/block5_pool"`), default the layer its classifier
    reads (`penultimate_layer`).
    """
    from zfnet_tf.analysis.feature_layers import output_name, penultimate_layer, zfnet_layers
    from zfnet_tf.deconv import Deconvnet
    from zfnet_tf.models import zfnet_backbone

    backbone = zfnet_backbone(model)
    if backbone is not None:
        if layer is None:
            layer = zfnet_layers(backbone.config)[-1]
        if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
            return output_name(backbone.config, int(layer))
        name = str(layer).split("/")[-1]
        if name not in backbone.feature_names:
            raise ValueError(f"--layer {layer!r}: not a feature layer of this ZFNet; its layers: {list(backbone.feature_names)}")
        return name
    if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        raise ValueError(f"--layer {layer!r}: layer numbers name ZFNet's layers; name a layer of this model")
    deconvnet = Deconvnet(model)
    if layer is None:
        return penultimate_layer(deconvnet)
    try:
        return deconvnet.graph.resolve(str(layer))[0]
    except ValueError as error:
        raise ValueError(f"--layer {layer!r}: {error}") from None


def layer_path(model: keras.Model, name: str) -> str:
    """The full path (`"vgg16/block5_pool"`) of the layer a canonical name names."""
    from zfnet_tf.deconv.graph import LayerGraph

    paths = LayerGraph(model).layer_paths
    return name if name in paths else next(p for p in paths if p.rsplit("/", 1)[-1] == name)


def layer_tensor(model: keras.Model, path: str):
    """The symbolic output of the layer at `path` in `model`'s own graph (reachable from
    `model.inputs`). A layer inside a nested model (a keras.applications base inside its
    wrapper) is reached by calling the nested model's front part, which shares its layers and
    weights, on the tensor the nested model was called with."""
    head, _, rest = path.partition("/")
    layer = model.get_layer(head)
    if not rest:
        return layer.output
    inner = keras.Model(layer.inputs, layer_tensor(layer, rest), name=f"{head}_to_{rest.replace('/', '_')}")
    called_with = layer._inbound_nodes[0].input_tensors  # the nested model's call in `model`
    return inner(called_with[0] if len(called_with) == 1 else called_with)


def layer_output_model(model: keras.Model, name: str, max_dimensions: int = 4096) -> keras.Model:
    """A functional model sharing `model`'s layers and weights: images to the float32
    `[batch, D]` features of layer `name` (maps pooled within `max_dimensions` and flattened).
    The transferred classifier is this model with a new dense layer on top."""
    from zfnet_tf.analysis.layer_features import pooling_window
    from zfnet_tf.models import zfnet_backbone

    backbone = zfnet_backbone(model)
    source = backbone if backbone is not None else model
    inputs = source.inputs
    x = layer_tensor(source, name if backbone is not None else layer_path(model, name))
    window = pooling_window(tuple(x.shape), max_dimensions)
    if window is not None:
        x = keras.layers.AveragePooling2D(window, window, padding="same", name=f"{name}_grid")(x)
    if len(x.shape) != 2:
        x = keras.layers.Flatten(name=f"{name}_flat")(x)
    x = keras.layers.Activation("linear", dtype="float32", name="features")(x)
    return keras.Model(inputs, x, name=f"{model.name}_{name}_features")


class FeatureExtractor:
    """One layer's features (`feature_layer_name`) for every image of a collection, in order.

    `batches_processed` and `images_processed` count what the network actually computed,
    over the extractor's life.

    Args:
        model: any supported Keras model (a ZFNet, a keras.applications network, a user's
            functional CNN); its weights are only read.
        layer: the layer (name, or a ZFNet layer number); None: the classifier's input.
        batch_size: images per forward pass.
        max_dimensions: the pooling budget of a convolutional layer's maps.
    """

    def __init__(self, model: keras.Model, layer: int | str | None = None, batch_size: int = 64,
                 max_dimensions: int = 4096):
        from zfnet_tf.models import image_transform

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.feature_layer = feature_layer_name(model, layer)
        self.features_model = layer_output_model(model, self.feature_layer, max_dimensions)
        self.image_size, self.resize_size = image_transform(model)
        self.batch_size = int(batch_size)
        self.batches_processed = 0
        self.images_processed = 0

    @property
    def dimension(self) -> int:
        return int(self.features_model.output.shape[-1])

    def model_fingerprint(self) -> str:
        """A digest of the features model's layers and weights."""
        digest = hashlib.sha256(type(self.model).__name__.encode())
        for layer in self.features_model.layers:
            digest.update(f"{layer.name}:{type(layer).__name__}".encode())
        for weight in self.features_model.weights:
            digest.update(weight.path.encode())
            digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
        return digest.hexdigest()

    def extract(self, collection) -> np.ndarray:
        """float32 `[len(collection), D]` features, one forward pass over the collection (an
        `ImageCollection`, or anything with its `images`, `names` and `first_undecodable`).

        The collection's unreadable files were left out when it was listed; a file that passed
        that check but that TensorFlow cannot decode is a ValueError naming it (rows must stay
        aligned with `collection.names`, so it cannot just be dropped).
        """
        images = collection.images(np.arange(len(collection)), self.image_size, self.resize_size)
        try:
            features = self.features_model.predict(images.batch(self.batch_size), verbose=0)
        except tf.errors.OpError:
            # tf.data's decoding error does not say which file it was: find it.
            culprit = collection.first_undecodable()
            if culprit is None:
                raise
            raise ValueError(f"cannot decode image {culprit}") from None
        self.batches_processed += math.ceil(len(collection) / self.batch_size)
        self.images_processed += len(collection)
        return np.asarray(features, np.float32)


class FeatureCache:
    """Features by (model weights, layer, image list, input size), in memory and optionally
    on disk.

    Disk entries are `features-<key>.npz` files under `directory`, written atomically; each
    also stores the image names, checked on load.

    Args:
        directory: where to keep `.npz` files; None keeps features in memory only.
    """

    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = None if directory is None else os.fspath(directory)
        self._memory: dict[str, np.ndarray] = {}
        self.last_source = None  # "memory", "disk" or "computed", for the record

    def key(self, extractor: FeatureExtractor, collection) -> str:
        digest = hashlib.sha256()
        for part in (
            extractor.model_fingerprint(),
            collection.fingerprint(),
            f"{extractor.image_size}/{extractor.resize_size}",
            extractor.feature_layer,
        ):
            digest.update(part.encode() + b"\0")
        return digest.hexdigest()[:32]

    def path(self, key: str) -> str | None:
        return None if self.directory is None else os.path.join(self.directory, f"features-{key}.npz")

    def features(self, extractor: FeatureExtractor, collection) -> np.ndarray:
        """The collection's features: from memory, else from disk, else one forward pass."""
        key = self.key(extractor, collection)
        if key in self._memory:
            self.last_source = "memory"
            return self._memory[key]
        path = self.path(key)
        if path is not None and os.path.isfile(path):
            with np.load(path, allow_pickle=False) as stored:
                if tuple(stored["names"].tolist()) == tuple(collection.names):
                    self._memory[key] = stored["features"]
                    self.last_source = "disk"
                    return self._memory[key]
        features = extractor.extract(collection)
        self._memory[key] = features
        self.last_source = "computed"
        if path is not None:
            with atomic_path(path) as partial:
                np.savez(partial, features=features, names=np.asarray(collection.names))
        return features
