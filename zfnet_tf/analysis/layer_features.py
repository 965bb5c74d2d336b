"""Linear classifiers on each layer's features (paper Table 7)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from zfnet_tf.analysis.feature_layers import available_layers, iterate_batches, output_name
from zfnet_tf.models import get_backbone

CLASSIFIERS = ("softmax", "svm")


@dataclass
class LayerFeaturesResult:
    """Accuracies by layer and classifier.

    Attributes:
        layers: the paper layers probed; `layer_names` their outputs; `dimensions` the
            feature length after pooling (`pooled_grid`: the spatial grid maps were averaged to).
        accuracy: `{classifier: {layer: test accuracy}}`.
        mean_class_accuracy: the same, averaged per class (the Caltech protocol's measure).
        num_train, num_test: examples used.
    """

    layers: tuple[int, ...]
    layer_names: tuple[str, ...]
    dimensions: dict[int, int]
    pooled_grid: dict[int, int | None]
    accuracy: dict[str, dict[int, float]] = field(default_factory=dict)
    mean_class_accuracy: dict[str, dict[int, float]] = field(default_factory=dict)
    num_train: int = 0
    num_test: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "layers": list(self.layers),
            "layer_outputs": list(self.layer_names),
            "dimensions": {str(l): d for l, d in self.dimensions.items()},
            "pooled_grid": {str(l): g for l, g in self.pooled_grid.items()},
            "num_train": self.num_train,
            "num_test": self.num_test,
            "accuracy": {c: {str(l): a for l, a in v.items()} for c, v in self.accuracy.items()},
            "mean_class_accuracy": {
                c: {str(l): a for l, a in v.items()} for c, v in self.mean_class_accuracy.items()
            },
            "seconds": self.seconds,
        }


class LayerFeatures:
    """Trains a softmax and a linear SVM on the features of each layer and tests them.

    Zeiler & Fergus (arXiv 1311.2901), Sec. 5.2 and Table 7: "we train either a linear SVM or
    softmax classifier on features from different layers ... higher layers generally produce
    more discriminative features". The model stays frozen; features are read in one pass per
    split for all layers together.

    A convolutional layer's maps are average-pooled to the coarsest square grid that keeps
    at most `max_dimensions` values (a 55x55x96 map has 290k). Every feature is standardized
    on the training set and every vector then scaled to unit length: without that last step
    sparse ReLU features leave `LinearSVC`'s dual solver far from converged after thousands of
    iterations; with it, it converges in about ten. Softmax is scikit-learn's multinomial
    `LogisticRegression`, the SVM its `LinearSVC` (one-vs-rest).

    Args:
        model: a ZFNet classifier or backbone.
        layers: paper layers (default: every one of 1-7 the network has).
        classifiers: any of "softmax", "svm".
        max_dimensions: the pooling budget per convolutional layer.
        regularization: the inverse regularization strength `C` of both classifiers.
        batch_size: images per forward batch.
        progress: show a progress bar.
    """

    def __init__(
        self,
        model: keras.Model,
        layers: Sequence[int] | None = None,
        classifiers: Sequence[str] = CLASSIFIERS,
        max_dimensions: int = 4096,
        regularization: float = 1.0,
        batch_size: int = 64,
        progress: bool = True,
    ):
        self.backbone = get_backbone(model)
        self.config = self.backbone.config
        self.layers = tuple(available_layers(self.config) if layers is None else (int(l) for l in layers))
        self.layer_names = tuple(output_name(self.config, layer) for layer in self.layers)
        unknown = [c for c in classifiers if c not in CLASSIFIERS]
        if unknown or not classifiers:
            raise ValueError(f"classifiers must be among {CLASSIFIERS}, got {list(classifiers)}")
        self.classifiers = tuple(classifiers)
        if max_dimensions < 1:
            raise ValueError(f"max_dimensions must be >= 1, got {max_dimensions}")
        self.max_dimensions = int(max_dimensions)
        self.regularization = float(regularization)
        self.batch_size = int(batch_size)
        self.progress = progress
        self._windows = {layer: self._window(name) for layer, name in zip(self.layers, self.layer_names)}
        self.pooled_grid = {
            layer: None if window is None else -(-self.backbone.get_layer(name).output.shape[1] // window)
            for (layer, window), name in zip(self._windows.items(), self.layer_names)
        }
        extractor = self.backbone.feature_extractor(sorted(set(self.layer_names)))
        self._extract = tf.function(lambda images: self._pool(extractor(images, training=False)), reduce_retracing=True)

    def features(self, data, description: str = "") -> tuple[dict[int, np.ndarray], np.ndarray]:
        """Every probed layer's (pooled, flattened) features of `data`, and its labels."""
        parts: dict[int, list[np.ndarray]] = {layer: [] for layer in self.layers}
        labels = []
        for images, batch_labels in iterate_batches(
            data, self.batch_size, self.config.input_size, self.progress, description
        ):
            if batch_labels is None:
                raise ValueError("layer features need labelled data: (image, label) pairs")
            outputs = self._extract(images)
            for layer, name in zip(self.layers, self.layer_names):
                parts[layer].append(outputs[name].numpy())
            labels.append(batch_labels.numpy())
        return {layer: np.concatenate(p) for layer, p in parts.items()}, np.concatenate(labels)

    def run(self, train_data, test_data) -> LayerFeaturesResult:
        """Fits each classifier on `train_data`'s features per layer; scores on `test_data`.

        Both are unbatched `tf.data.Dataset`s of `(image, label)` (e.g. `load_data(...).dataset`).
        """
        from sklearn.metrics import accuracy_score, balanced_accuracy_score

        start = time.perf_counter()
        train, train_labels = self.features(train_data, "features of the training data")
        test, test_labels = self.features(test_data, "features of the test data")
        if np.unique(train_labels).size < 2:
            raise ValueError("the training data needs at least 2 classes")
        extracted = time.perf_counter()
        result = LayerFeaturesResult(
            self.layers,
            self.layer_names,
            {layer: int(train[layer].shape[1]) for layer in self.layers},
            self.pooled_grid,
            num_train=len(train_labels),
            num_test=len(test_labels),
        )
        for name in self.classifiers:
            result.accuracy[name], result.mean_class_accuracy[name] = {}, {}
            for layer in self.layers:
                classifier = self._classifier(name).fit(train[layer], train_labels)
                predicted = classifier.predict(test[layer])
                result.accuracy[name][layer] = float(accuracy_score(test_labels, predicted))
                result.mean_class_accuracy[name][layer] = float(balanced_accuracy_score(test_labels, predicted))
        result.seconds = {"features": extracted - start, "classifiers": time.perf_counter() - extracted}
        return result

    def _classifier(self, name: str):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import Normalizer, StandardScaler
        from sklearn.svm import LinearSVC

        if name == "softmax":
            model = LogisticRegression(C=self.regularization, max_iter=2000)
        else:
            model = LinearSVC(C=self.regularization, max_iter=2000)
        return make_pipeline(StandardScaler(), Normalizer(), model)

    def _window(self, name: str) -> int | None:
        """The average-pooling window that brings a map within `max_dimensions` (None: no pooling)."""
        shape = self.backbone.get_layer(name).output.shape
        if len(shape) != 4:
            return None
        side, channels = shape[1], shape[3]
        grid = max(1, math.isqrt(self.max_dimensions // channels))
        return -(-side // grid) if grid < side else None

    def _pool(self, outputs):
        pooled = {}
        for layer, name in zip(self.layers, self.layer_names):
            x = tf.cast(outputs[name], tf.float32)
            window = self._windows[layer]
            if window is not None:
                # SAME average pooling counts only real positions at the borders.
                x = tf.nn.avg_pool2d(x, window, window, "SAME")
            pooled[name] = tf.reshape(x, [tf.shape(x)[0], -1])
        return pooled
