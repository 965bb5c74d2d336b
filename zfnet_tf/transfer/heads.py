"""The new softmax on frozen features, and the classifier file it becomes.

Zeiler & Fergus (arXiv 1311.2901) Sec. 5.1: "we keep layers 1-7 of our ImageNet-trained model
fixed and train a new softmax classifier on top". On fixed features that softmax is multinomial
logistic regression, a convex problem: scikit-learn's L-BFGS solves it to its optimum,
deterministically and with no learning rate or epoch count to tune, so the numbers depend only
on the features, the split and the L2 strength `C`. The fitted weights are folded into one
dense layer (`fc8`) so the saved classifier computes exactly these logits.

The same softmax is Table 7's (Sec. 5.2, `zfnet_tf.analysis.LayerFeatures`): `fit_classifier`
fits it, or Table 7's other classifier, the linear SVM, on any layer's frozen features.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

import keras

if TYPE_CHECKING:
    from zfnet_tf.transfer.features import FeatureExtractor

CLASSIFIERS = ("softmax", "svm")


@dataclass(frozen=True)
class SoftmaxHead:
    """A linear softmax layer: `logits = features @ kernel + bias`.

    Attributes:
        kernel: float32 `[D, C]`.
        bias: float32 `[C]`.
        iterations: L-BFGS iterations the fit took.
        converged: whether it stopped before `max_iter`.
    """

    kernel: np.ndarray
    bias: np.ndarray
    iterations: int = 0
    converged: bool = True

    @classmethod
    def fit(
        cls,
        features: np.ndarray,
        labels: np.ndarray,
        num_classes: int,
        c: float = 1.0,
        max_iter: int = 500,
        sample_weight: np.ndarray | None = None,
    ) -> "SoftmaxHead":
        """Multinomial logistic regression on standardized features, L2 strength `1 / c`.

        Standardizing makes one `C` suit features of any scale (fc7 of a trained network or
        of random weights); the scaling is folded back into the kernel and bias.
        `sample_weight` weighs each row's loss (a soft target is rows of one image with
        weights summing to 1: the cross-entropy of the spread target).
        """
        if c <= 0:
            raise ValueError(f"the softmax's C must be > 0, got {c}")
        labels = np.asarray(labels)
        missing = sorted(set(range(num_classes)) - set(np.unique(labels).tolist()))
        if missing:
            raise ValueError(f"no training images for class(es) {missing[:10]}")
        (coef, intercept), iterations = _standardized_fit(features, [(labels, None)], c, max_iter, sample_weight)[0]
        # coef is [C, D], or [1, D] (class 1's log-odds) for two classes
        if num_classes == 2:
            # softmax([-z/2, z/2]) = sigmoid(z): the same probabilities as the binary model.
            coef = np.concatenate([-coef / 2, coef / 2])
            intercept = np.concatenate([-intercept / 2, intercept / 2])
        return cls(
            kernel=coef.T.astype(np.float32),
            bias=intercept.astype(np.float32),
            iterations=iterations,
            converged=iterations < max_iter,
        )

    def logits(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(features, np.float32) @ self.kernel + self.bias

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """The softmax of the logits `[N, C]`: one exclusive prediction per image."""
        from zfnet_tf.analysis.base import softmax

        return softmax(self.logits(features))

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.argmax(self.logits(features), axis=-1)


@dataclass(frozen=True)
class LogisticHeads:
    """One logistic regression per class (one-vs-rest): `sigmoid(features @ kernel + bias)`,
    each class scored on its own, so an image can hold several.

    Attributes:
        kernel: float32 `[D, C]`, column c class c's weights.
        bias: float32 `[C]`.
        iterations: the most L-BFGS iterations any class took.
        converged: whether every class stopped before `max_iter`.
    """

    kernel: np.ndarray
    bias: np.ndarray
    iterations: int = 0
    converged: bool = True

    @classmethod
    def fit(cls, features: np.ndarray, targets: np.ndarray, c: float = 1.0, max_iter: int = 500) -> "LogisticHeads":
        """Fits class c on the rows where `targets[:, c]` is 1 (positive) or -1 (negative);
        rows with 0 (e.g. VOC's difficult-only images) are left out of that class' fit. Same
        standardization and L2 strength `1 / c` as `SoftmaxHead`."""
        if c <= 0:
            raise ValueError(f"the logistic heads' C must be > 0, got {c}")
        targets = np.asarray(targets)
        lonely = [k for k in range(targets.shape[1]) if not ((targets[:, k] == 1).any() and (targets[:, k] == -1).any())]
        if lonely:
            raise ValueError(f"class(es) {lonely[:10]} need positive and negative training images")
        tasks = [(targets[:, k], targets[:, k] != 0) for k in range(targets.shape[1])]
        fits = _standardized_fit(features, tasks, c, max_iter)
        kernel = np.concatenate([coef.T for (coef, _), _ in fits], axis=1)
        bias = np.concatenate([intercept for (_, intercept), _ in fits])
        iterations = max(n for _, n in fits)
        return cls(kernel.astype(np.float32), bias.astype(np.float32), iterations, iterations < max_iter)

    def logits(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(features, np.float32) @ self.kernel + self.bias

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Each class' own probability `[N, C]` (rows need not sum to 1)."""
        return (1.0 / (1.0 + np.exp(-self.logits(features).astype(np.float64)))).astype(np.float32)


def fit_classifier(kind: str, features: np.ndarray, labels: np.ndarray, num_classes: int, **options):
    """A linear classifier of frozen features, fitted; its `predict(features)` gives class
    indices. kind: "softmax" (`SoftmaxHead.fit`, the new softmax of Sec. 5.1 and Table 7) or
    "svm" (Table 7's linear SVM: scikit-learn's `LinearSVC`, one-vs-rest, on features
    standardized and scaled to unit length, which its dual solver needs to converge on sparse
    ReLU features). `options`: `SoftmaxHead.fit`'s `c` (the inverse L2 strength of both),
    `max_iter` and `sample_weight`."""
    if kind == "softmax":
        return SoftmaxHead.fit(features, labels, num_classes, **options)
    if kind != "svm":
        raise ValueError(f"classifier must be one of {CLASSIFIERS}, got {kind!r}")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer, StandardScaler
    from sklearn.svm import LinearSVC

    unknown = sorted(set(options) - {"c", "max_iter", "sample_weight"})
    if unknown:
        raise TypeError(f"fit_classifier got unexpected option(s) {unknown}")
    c, max_iter, sample_weight = options.get("c", 1.0), options.get("max_iter", 500), options.get("sample_weight")
    svm = make_pipeline(StandardScaler(), Normalizer(), LinearSVC(C=c, max_iter=max_iter))
    return svm.fit(np.asarray(features, np.float64), labels, linearsvc__sample_weight=sample_weight)


def _standardized_fit(features, tasks, c: float, max_iter: int, sample_weight=None):
    """scikit-learn's `LogisticRegression(C=c)` on standardized features, once per task
    `(labels [N], rows: bool mask [N] of the rows it fits on, or None for all)`, with the
    standardization folded back: `[((coef [K, D], intercept [K]), iterations)]`."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    features = np.asarray(features, np.float64)
    # Weighted rows of one image count as that image once (its weights sum to 1).
    scaler = StandardScaler().fit(features, sample_weight=sample_weight)
    standardized = scaler.transform(features)
    fits = []
    for labels, rows in tasks:
        labels = np.asarray(labels)
        rows = slice(None) if rows is None else rows
        regression = LogisticRegression(C=c, max_iter=max_iter)
        weights = None if sample_weight is None else np.asarray(sample_weight)[rows]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            regression.fit(standardized[rows], labels[rows], sample_weight=weights)
        coef = regression.coef_ / scaler.scale_[None, :]
        intercept = regression.intercept_ - coef @ scaler.mean_
        fits.append(((coef, intercept), int(np.max(regression.n_iter_))))
    return fits


def transferred_classifier(extractor: "FeatureExtractor", head: SoftmaxHead, class_names: Sequence[str]) -> keras.Model:
    """The transferred network, ready to save, export and serve: a copy of the extractor's
    layers (same weights; training it leaves the extractor's model alone) with `head` as the
    class layer and `class_names` set.

    A ZFNet read at its last fully connected layer becomes a `ZFNetImageClassifier` with the
    head as `fc8`; any other model or layer an `ImageClassifier` (features model + `predictions`).
    """
    return _classifier(extractor, class_names, head)


def scratch_classifier(extractor: "FeatureExtractor", class_names: Sequence[str]) -> keras.Model:
    """The same architecture as `transferred_classifier`, every weight freshly initialized:
    the paper's "non-pretrained" baseline (Tables 4-5)."""
    return _classifier(extractor, class_names, None)


def _classifier(extractor, class_names, head: SoftmaxHead | None) -> keras.Model:
    from zfnet_tf.models import ImageClassifier, build_model, zfnet_backbone

    class_names = [str(name) for name in class_names]
    if head is not None and head.kernel.shape != (extractor.dimension, len(class_names)):
        raise ValueError(
            f"head kernel {head.kernel.shape} does not fit {extractor.dimension} features "
            f"and {len(class_names)} classes"
        )
    backbone = zfnet_backbone(extractor.model)
    if backbone is not None and backbone.config.dense_units and extractor.feature_layer == backbone.feature_names[-1]:
        classifier = build_model(backbone.config, class_names=class_names)
        if head is not None:
            classifier.backbone.set_weights(backbone.get_weights())
            classifier.get_layer("fc8").set_weights([head.kernel, head.bias])
        return classifier
    # New layers of the same architecture, so that training this network (fine-tuning, the
    # scratch baseline) never changes the extractor's model; with a head, its weights copied.
    features = keras.models.clone_model(extractor.features_model)
    if head is not None:
        features.set_weights(extractor.features_model.get_weights())
    logits = keras.layers.Dense(len(class_names), dtype="float32", name="predictions")(features.output)
    classifier = ImageClassifier(
        features.input, logits, name=f"{extractor.model.name}_transferred",
        class_names=class_names, resize_size=extractor.resize_size,
    )
    if head is not None:
        classifier.get_layer("predictions").set_weights([head.kernel, head.bias])
    return classifier
