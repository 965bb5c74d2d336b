"""Linear classifiers on each layer's features (paper Table 7)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping

import keras
import numpy as np

from zfnet_tf.analysis.base import Analysis, Params, Readout, Result, check_int, check_number, layer_tuple, predict
from zfnet_tf.analysis.data import Data
from zfnet_tf.data import DataSource
from zfnet_tf.analysis.feature_layers import chosen_feature_layers, pooled_grid

from zfnet_tf.transfer.heads import CLASSIFIERS, fit_classifier


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


class LayerFeatures(Analysis):
    """Trains a softmax and a linear SVM on the features of each layer and tests them.

    Zeiler & Fergus (arXiv 1311.2901), Sec. 5.2 and Table 7: "we train either a linear SVM or
    softmax classifier on features from different layers ... higher layers generally produce
    more discriminative features". The model stays frozen; features of all layers are read in
    one `Model.predict` pass per split (`feature_reader`).

    A convolutional layer's maps are average-pooled, in the graph, to the coarsest square grid
    that keeps at most `max_dimensions` values (a 55x55x96 map has 290k): the rule transfer
    uses too. The classifiers are `zfnet_tf.transfer.heads.fit_classifier`'s: the softmax is
    transfer's new softmax (`SoftmaxHead`: multinomial logistic regression on standardized
    features), the SVM scikit-learn's `LinearSVC` (one-vs-rest) on standardized features
    scaled to unit length (without that, sparse ReLU features leave its dual solver far from
    converged after thousands of iterations; with it, it converges in about ten).

    Args:
        model: a ZFNet classifier or backbone, or any model the deconvnet supports.
        params: a `LayerFeaturesParams` (or its fields as keywords).
    """

    params_class = LayerFeaturesParams

    def __init__(self, model: keras.Model, params: LayerFeaturesParams | None = None, **overrides):
        super().__init__(model, params, **overrides)
        self.layers, self.layer_names = chosen_feature_layers(self.deconvnet, self.params.layers, "all")
        budget = self.params.max_dimensions
        self.pooled_grid = {
            layer: pooled_grid(self.deconvnet, name, budget) for layer, name in zip(self.layers, self.layer_names)
        }
        self._readout = Readout.of(self.deconvnet, self.layer_names, budget)

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
        classes, train_labels = np.unique(train_labels, return_inverse=True)  # fit the classes seen
        for name in self.params.classifiers:
            result.accuracy[name], result.mean_class_accuracy[name] = {}, {}
            for layer in self.layers:
                classifier = fit_classifier(name, train[layer], train_labels, len(classes),
                                            c=self.params.regularization, max_iter=2000)
                predicted = classes[classifier.predict(test[layer])]
                result.accuracy[name][layer] = float(accuracy_score(test_labels, predicted))
                result.mean_class_accuracy[name][layer] = float(balanced_accuracy_score(test_labels, predicted))
        result.seconds = {"features": extracted - start, "classifiers": time.perf_counter() - extracted}
        return result
