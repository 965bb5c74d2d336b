"""Seeded random splits of a labelled pool (the transfer protocol's, and Caltech's train/test)."""

import numpy as np
import pytest

from zfnet_tf.data import make_split

# 4 classes of unequal size, shuffled so that class members are not contiguous.
LABELS = np.random.default_rng(7).permutation(np.repeat([0, 1, 2, 3], [40, 12, 31, 80]))


@pytest.mark.parametrize("train_per_class,test_per_class", [(5, 20), (10, None), (11, 50)])
def test_split_has_n_training_images_per_class_and_at_most_m_test_images(
    train_per_class, test_per_class
):
    split = make_split(LABELS, train_per_class, test_per_class, seed=3)
    assert np.intersect1d(split.train, split.test).size == 0
    np.testing.assert_array_equal(np.bincount(LABELS[split.train], minlength=4), [train_per_class] * 4)
    available = np.bincount(LABELS, minlength=4) - train_per_class
    expected_test = available if test_per_class is None else np.minimum(available, test_per_class)
    np.testing.assert_array_equal(np.bincount(LABELS[split.test], minlength=4), expected_test)


def test_splits_are_reproducible_from_their_seed_and_differ_across_seeds():
    first = make_split(LABELS, 10, 20, seed=0)
    again = make_split(LABELS, 10, 20, seed=0)
    other = make_split(LABELS, 10, 20, seed=1)
    np.testing.assert_array_equal(first.train, again.train)
    np.testing.assert_array_equal(first.test, again.test)
    assert not np.array_equal(first.train, other.train)
    assert not np.array_equal(first.test, other.test)


def test_a_seed_nests_smaller_training_sets_in_larger_ones():
    small = make_split(LABELS, 5, 20, seed=4)
    large = make_split(LABELS, 10, 20, seed=4)
    assert set(small.train) < set(large.train)


def test_classes_too_small_for_n_are_named():
    with pytest.raises(ValueError, match=r"b \(12\)"):
        make_split(LABELS, 12, None, seed=0, class_names=["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="train_per_class"):
        make_split(LABELS, 0, None, seed=0)


def test_short_classes_can_give_all_but_one_image_to_training():
    """Caltech's fixed train/test split: up to N a class for training, at least one left to
    test, whatever the class size."""
    labels = np.repeat([0, 1, 2, 3], [40, 5, 1, 2])
    split = make_split(labels, 30, None, seed=0, short_classes="fewer")
    np.testing.assert_array_equal(np.bincount(labels[split.train], minlength=4), [30, 4, 1, 1])
    np.testing.assert_array_equal(np.bincount(labels[split.test], minlength=4), [10, 1, 0, 1])
    # Classes that have enough images get the same draw as the strict rule.
    strict = make_split(np.repeat([0, 1], [40, 35]), 30, None, seed=0)
    lenient = make_split(np.repeat([0, 1], [40, 35]), 30, None, seed=0, short_classes="fewer")
    np.testing.assert_array_equal(strict.train, lenient.train)
    with pytest.raises(ValueError, match="short_classes"):
        make_split(labels, 3, None, seed=0, short_classes="drop")
