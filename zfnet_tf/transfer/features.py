"""A frozen layer of any model as a feature extractor, with a cache so a protocol costs one pass.

The paper keeps layers 1-7 of the ImageNet model fixed and trains only a new softmax (Sec. 5.1),
so every image's features are the same in every split and for every N: they are computed once
for the whole pool and kept in memory, and optionally on disk keyed by the model's weights, the
layer and the image list, so that a second run (another C, more splits) computes nothing.

The features are one layer's output, named (`--layer`): by default the layer that feeds the
classifier (ZFNet's fc7, VGG16's `fc2`, ResNet50's `avg_pool`). They are read as the Table 7
analysis reads them (`zfnet_tf.analysis.feature_layers.feature_reader`): a convolutional
layer's maps average-pooled to the coarsest square grid within `max_dimensions` values, then
flattened.
"""

from __future__ import annotations

import hashlib
import math
import os

import keras
import numpy as np
import tensorflow as tf

from zfnet_tf.deconv.reading import layer_key
from zfnet_tf.files import atomic_path


def feature_layer_name(model: keras.Model, layer: int | str | None = None) -> str:
    """The canonical name of the layer whose output the features are: `feature_layer` (a
    ZFNet layer number 1-7 or any layer name or path; default the classifier's input); a bad
    layer is a ValueError naming `--layer`, the flag that gives it."""
    from zfnet_tf.analysis.feature_layers import feature_layer

    try:
        return feature_layer(model, layer)
    except ValueError as error:
        raise ValueError(f"--layer {layer!r}: {error}") from None


def layer_output_model(model: keras.Model, name: str, max_dimensions: int = 4096) -> keras.Model:
    """A functional model sharing `model`'s layers and weights: images to the float32
    `[batch, D]` features of layer `name` (`feature_reader`: maps pooled within
    `max_dimensions`, flattened). The transferred classifier is this model with a new dense
    layer on top."""
    from zfnet_tf.analysis.feature_layers import feature_reader

    reader = feature_reader(model, [name], max_dimensions)
    return keras.Model(reader.input, reader.outputs[0], name=f"{model.name}_{layer_key(name)}_features")


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
