"""Seeded random splits of a labelled pool: N training images a class, up to M test images a class.

The paper's transfer protocol (Sec. 5.1) draws such splits (following Fei-Fei et al. for
Caltech-101 and Griffin et al. for Caltech-256), and Caltech's train/test splits here are one
of them, since the archives come without one. Each split is reproducible from its seed alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class Split:
    """One random split of a labelled pool: indices into it, sorted."""

    seed: int
    train_per_class: int
    test_per_class: int | None
    train: np.ndarray
    test: np.ndarray


def make_split(
    labels: Sequence[int] | np.ndarray,
    train_per_class: int,
    test_per_class: int | None,
    seed: int,
    class_names: Sequence[str] | None = None,
    short_classes: str = "error",
) -> Split:
    """Draws `train_per_class` training images of every class and, from the rest of that class,
    up to `test_per_class` test images (all the rest if None).

    Every class needs at least `train_per_class + 1` images (one to test). A class with fewer
    is, by `short_classes`: "error", a ValueError that names the classes short of images (the
    protocol's N must hold for every class); "fewer", all its images but one for training (a
    class of one image: that one), the rest for testing.
    """
    if short_classes not in ("error", "fewer"):
        raise ValueError(f"short_classes must be 'error' or 'fewer', got {short_classes!r}")
    labels = np.asarray(labels)
    if train_per_class < 1:
        raise ValueError(f"train_per_class must be >= 1, got {train_per_class}")
    if test_per_class is not None and test_per_class < 1:
        raise ValueError(f"test_per_class must be >= 1 or None (all the rest), got {test_per_class}")
    num_classes = int(labels.max()) + 1 if class_names is None else len(class_names)
    counts = np.bincount(labels, minlength=num_classes)
    short = np.flatnonzero(counts < train_per_class + 1)
    if short.size and short_classes == "error":
        named = [
            f"{class_names[c] if class_names is not None else c} ({counts[c]})" for c in short[:10]
        ]
        more = f" and {short.size - 10} more" if short.size > 10 else ""
        raise ValueError(
            f"{train_per_class} training images a class need at least {train_per_class + 1} "
            f"images in every class; {short.size} class(es) have fewer: {', '.join(named)}{more}"
        )
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in range(num_classes):
        members = rng.permutation(np.flatnonzero(labels == label))
        count = min(train_per_class, max(len(members) - 1, 1))
        train.append(members[:count])
        rest = members[count:]
        test.append(rest if test_per_class is None else rest[:test_per_class])
    return Split(
        seed=int(seed),
        train_per_class=int(train_per_class),
        test_per_class=test_per_class,
        train=np.sort(np.concatenate(train)),
        test=np.sort(np.concatenate(test)),
    )
