"""The transfer protocol's measure (paper Sec. 5.1): the mean per-class accuracy, averaged over
random splits (`zfnet_tf.data.make_split`) drawn from the seeds `split_seeds` gives."""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np


def split_seeds(seed: int, splits: int) -> list[int]:
    """The seeds of the protocol's splits: `seed, seed + 1, ...` (recorded with the results).

    The same seed draws the same class permutations for every N, so the 15-a-class training
    set of a split is contained in its 30-a-class one.
    """
    if splits < 1:
        raise ValueError(f"splits must be >= 1, got {splits}")
    return [int(seed) + k for k in range(splits)]


def mean_per_class_accuracy(
    labels: Sequence[int] | np.ndarray, predictions: Sequence[int] | np.ndarray
) -> float:
    """The paper's measure: the accuracy of each class present in `labels`, averaged over those
    classes (so large classes do not dominate). This is scikit-learn's balanced accuracy."""
    from sklearn.metrics import balanced_accuracy_score

    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    if labels.size == 0 or labels.shape != predictions.shape:
        raise ValueError(
            f"need as many predictions as labels (>0), got {predictions.shape} and {labels.shape}"
        )
    with warnings.catch_warnings():
        # Predicting a class that has no test image is a plain mistake here, not a problem.
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        return float(balanced_accuracy_score(labels, predictions))
