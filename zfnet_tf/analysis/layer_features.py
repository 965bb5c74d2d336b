"""Linear classifiers on each layer's features (paper Table 7)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Mapping

import keras
import numpy as np
import tensorflow as tf

from zfnet_tf.analysis.base import Analysis, Params, Readout, Result, check_int, check_number, layer_tuple, predict
from zfnet_tf.analysis.data import Data
from zfnet_tf.data import DataSource
from zfnet_tf.analysis.feature_layers import chosen_feature_layers

CLASSIFIERS = ("softmax", "svm")


@dataclass(frozen=True)
class LayerFeaturesParams(Params):
    """What `LayerFeatures` does.

    Attributes:
        layers: layer names, or ZFNet's 1-7 (default: every ZFNet layer; for other models the
            projectable layers and the classifier's input).
        classifiers: any of "softmax", "svm".
        max_dimensions: the pooling budget per convolutional layer.
        regularization: the inverse regularization strength `C` of both classifiers.
        batch_size: images per forward batch.
        progress: show a progress bar per pass.
    """

    layers: tuple[int | str, ...] | None = None
    classifiers: tuple[str, ...] = CLASSIFIERS
    max_dimensions: int = 4096
    regularization: float = 1.0
    batch_size: int = 64
    progress: bool = True

    def check(self) -> None:
        layer_tuple(self, "layers")
        classifiers = (self.classifiers,) if isinstance(self.classifiers, str) else tuple(self.classifiers)
        if not classifiers or any(c not in CLASSIFIERS for c in classifiers):
            raise ValueError(f"classifiers must be among {CLASSIFIERS}, got {list(classifiers)}")
        self._set("classifiers", classifiers)
        check_int("max_dimensions", self.max_dimensions, 1)
        check_number("regularization", self.regularization, what=" > 0")
        if self.regularization <= 0:
            raise ValueError(f"regularization must be > 0, got {self.regularization!r}")
        check_int("batch_size", self.batch_size, 1)


@dataclass
class LayerFeaturesResult(Result):
    """Accuracies by layer and classifier.

    Attributes:
        layers: the layers probed; `layer_names` their outputs; `dimensions` the feature
            length after pooling (`pooled_grid`: the spatial grid maps were averaged to).
        accuracy: `{classifier: {layer: test accuracy}}`.
        mean_class_accuracy: the same, averaged per class (the Caltech protocol's measure).
        num_train, num_test: examples used.
    """

    kind = "layer_features"

    layers: tuple[int | str, ...]
    layer_names: tuple[str, ...]
    dimensions: dict
    pooled_grid: dict
    accuracy: dict[str, dict] = field(default_factory=dict)
    mean_class_accuracy: dict[str, dict] = field(default_factory=dict)
    num_train: int = 0
    num_test: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def figures(self):
        from zfnet_tf.analysis import plots

        return {f"{self.stem}.png": plots.layer_features_figure(self)}

    def numbers(self) -> dict:
        return {
            "layers": self.layers,
            "layer_outputs": self.layer_names,
            "dimensions": self.dimensions,
            "pooled_grid": self.pooled_grid,
            "num_train": self.num_train,
            "num_test": self.num_test,
            "accuracy": self.accuracy,
            "mean_class_accuracy": self.mean_class_accuracy,
            "seconds": self.seconds,
        }


def pooling_window(shape, max_dimensions: int) -> int | None:
    """The average-pooling window (and stride, SAME padding) that brings a layer's maps of
    `shape` `[batch, side, side, channels]` within `max_dimensions` values, on the coarsest
    square grid that fits; None when no pooling is needed (or the output is not a map)."""
    if len(shape) != 4:
        return None
    side, channels = shape[1], shape[3]
    grid = max(1, math.isqrt(max_dimensions // channels))
    return -(-side // grid) if grid < side else None


class LayerFeatures(Analysis):
    """Trains a softmax and a linear SVM on the features of each layer and tests them.

    Zeiler & Fergus (arXiv 1311.2901), Sec. 5.2 and Table 7: "we train either a linear SVM or
    softmax classifier on features from different layers ... higher layers generally produce
    more discriminative features". The model stays frozen; features of all layers are read in
    one `Model.predict` pass per split (`Deconvnet.feature_model`).

    A convolutional layer's maps are average-pooled, in the graph, to the coarsest square grid
    that keeps at most `max_dimensions` values (a 55x55x96 map has 290k). Every feature is
    standardized on the training set and every vector then scaled to unit length: without that
    last step sparse ReLU features leave `LinearSVC`'s dual solver far from converged after
    thousands of iterations; with it, it converges in about ten. Softmax is scikit-learn's
    multinomial `LogisticRegression`, the SVM its `LinearSVC` (one-vs-rest).

    Args:
        model: a ZFNet classifier or backbone, or any model the deconvnet supports.
        params: a `LayerFeaturesParams` (or its fields as keywords).
    """

    params_class = LayerFeaturesParams

    def __init__(self, model: keras.Model, params: LayerFeaturesParams | None = None, **overrides):
        super().__init__(model, params, **overrides)
        self.layers, self.layer_names = chosen_feature_layers(self.deconvnet, self.params.layers, "all")
        graph = self.deconvnet.graph
        shapes = {name: graph.shapes[graph.resolve(name)[1]] for name in self.layer_names}
        self._windows = {name: self._window(shapes[name]) for name in self.layer_names}
        self.pooled_grid = {
            layer: None if self._windows[name] is None else -(-shapes[name][1] // self._windows[name])
            for layer, name in zip(self.layers, self.layer_names)
        }
        self._readout = Readout.of(self.deconvnet, self.layer_names, self._pool)

    def features(self, data: Data, split: str = "test") -> tuple[dict, np.ndarray]:
        """Every probed layer's (pooled, flattened) features `{layer: [N, D]}` of labelled
        `data`, and its labels `[N]`."""
        data = self.data(data, split)
        if not data.labelled:
            raise ValueError("layer features need labelled data: (image, label) pairs")
        if self.params.progress:
            print(f"features of {data.source}")
        outputs = predict(self._readout, data, self.params.batch_size, self.params.progress)
        return {layer: outputs[name] for layer, name in zip(self.layers, self.layer_names)}, outputs["labels"]

    def run(self, data: Data | Mapping[str, Data]) -> LayerFeaturesResult:
        """Fits each classifier on the training features per layer; scores on the test set.

        Args:
            data: labelled `{"train": data, "test": data}` (each as `analysis_data` reads
                it), or a dataset name or `zfnet_tf.data.DataSource`: its train and test splits.
        """
        from sklearn.metrics import accuracy_score, balanced_accuracy_score

        if isinstance(data, (str, DataSource)):
            spec = DataSource(data) if isinstance(data, str) else data
            data = {"train": spec.replace(split="train"), "test": spec.replace(split="test")}
        if not isinstance(data, Mapping) or set(data) != {"train", "test"}:
            raise ValueError('layer features need {"train": data, "test": data}, or a dataset name whose '
                             "splits are the train and test data")
        data, test_data = data["train"], data["test"]
        start = time.perf_counter()
        train_data, test_data = self.data(data, "train"), self.data(test_data, "test")
        train, train_labels = self.features(train_data)
        test, test_labels = self.features(test_data)
        if np.unique(train_labels).size < 2:
            raise ValueError("the training data needs at least 2 classes")
        extracted = time.perf_counter()
        result = LayerFeaturesResult(
            layers=tuple(self.layers),
            layer_names=self.layer_names,
            dimensions={layer: int(train[layer].shape[1]) for layer in self.layers},
            pooled_grid=self.pooled_grid,
            num_train=len(train_labels),
            num_test=len(test_labels),
            params=self.params,
            data={"train": train_data.summary(), "test": test_data.summary()},
        )
        for name in self.params.classifiers:
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

        c = self.params.regularization
        model = LogisticRegression(C=c, max_iter=2000) if name == "softmax" else LinearSVC(C=c, max_iter=2000)
        return make_pipeline(StandardScaler(), Normalizer(), model)

    def _window(self, shape) -> int | None:
        return pooling_window(shape, self.params.max_dimensions)

    def _pool(self, outputs: dict) -> dict:
        pooled = {}
        for name in self.layer_names:
            x = outputs[name]
            window = self._windows[name]
            if window is not None:
                # SAME average pooling counts only real positions at the borders.
                x = tf.nn.avg_pool2d(x, window, window, "SAME")
            pooled[name] = tf.reshape(x, [tf.shape(x)[0], -1])
        return pooled
