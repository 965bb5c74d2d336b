"""The paper's random splits and its accuracy measure."""

import numpy as np
import pytest

from zfnet_tf.transfer import make_split, mean_per_class_accuracy, split_seeds

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


def test_split_seeds_are_consecutive_from_the_base_seed():
    assert split_seeds(10, 5) == [10, 11, 12, 13, 14]
    with pytest.raises(ValueError, match="splits"):
        split_seeds(0, 0)


def test_classes_too_small_for_n_are_named():
    with pytest.raises(ValueError, match=r"b \(12\)"):
        make_split(LABELS, 12, None, seed=0, class_names=["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="train_per_class"):
        make_split(LABELS, 0, None, seed=0)


def test_mean_per_class_accuracy_averages_each_classes_accuracy():
    labels = [0, 0, 0, 0, 1, 1, 2]
    predictions = [0, 0, 0, 1, 1, 0, 2]
    # By hand: class 0 has 3 of 4 right, class 1 has 1 of 2, class 2 has 1 of 1.
    by_hand = (3 / 4 + 1 / 2 + 1 / 1) / 3
    assert mean_per_class_accuracy(labels, predictions) == pytest.approx(by_hand)
    # Not the plain accuracy (5 of 7), which large classes would dominate.
    assert mean_per_class_accuracy(labels, predictions) != pytest.approx(5 / 7)
    # A class that is only predicted, never a test label, does not count as a class.
    assert mean_per_class_accuracy([0, 0, 1], [0, 3, 1]) == pytest.approx((1 / 2 + 1) / 2)
    with pytest.raises(ValueError, match="predictions"):
        mean_per_class_accuracy([0, 1], [0])
