"""The transfer protocol's split seeds and its accuracy measure."""

import pytest

from zfnet_tf.transfer import mean_per_class_accuracy, split_seeds


def test_split_seeds_are_consecutive_from_the_base_seed():
    assert split_seeds(10, 5) == [10, 11, 12, 13, 14]
    with pytest.raises(ValueError, match="splits"):
        split_seeds(0, 0)


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
