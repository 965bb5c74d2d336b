import numpy as np
import pytest

from zfnet_tf.probing import class_probabilities, fill_boxes


def numpy_fill(image, top, left, bottom, right, fill):
    out = image.astype(np.float32).copy()
    out[max(top, 0):max(bottom, 0), max(left, 0):max(right, 0)] = fill
    return out


def test_fill_boxes_one_box_per_image_matches_numpy_slicing():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (3, 9, 9, 3)).astype(np.float32)
    boxes = np.array([[0, 0, 3, 4], [5, 2, 9, 9], [-2, 7, 2, 12]])  # the last hangs over two edges
    fill = (10.0, 20.0, 30.0)
    got = fill_boxes(images, *boxes.T, fill).numpy()
    for image, box, out in zip(images, boxes, got):
        np.testing.assert_array_equal(out, numpy_fill(image, *box, fill))


def test_fill_boxes_positions_over_each_image():
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    tops = np.array([[0, 3, 6], [1, 1, 7]])
    lefts = np.array([[0, 5, 2], [4, 0, 7]])
    got = fill_boxes(images[:, None], tops, lefts, tops + 3, lefts + 3, (0.0, 0.0, 0.0)).numpy()
    assert got.shape == (2, 3, 8, 8, 3)
    for n in range(2):
        for p in range(3):
            expected = numpy_fill(images[n], tops[n, p], lefts[n, p], tops[n, p] + 3, lefts[n, p] + 3, 0.0)
            np.testing.assert_array_equal(got[n, p], expected)


@pytest.mark.parametrize("ends_in_softmax", [False, True])
def test_class_probabilities(ends_in_softmax):
    scores = np.array([[1.0, 2.0, 0.5], [-3.0, 0.0, 3.0]], np.float32)
    got = class_probabilities(scores, ends_in_softmax).numpy()
    if ends_in_softmax:
        np.testing.assert_array_equal(got, scores)
    else:
        exp = np.exp(scores - scores.max(axis=1, keepdims=True))
        np.testing.assert_allclose(got, exp / exp.sum(axis=1, keepdims=True), rtol=1e-6)
