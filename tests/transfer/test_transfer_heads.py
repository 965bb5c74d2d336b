"""One softmax on frozen features (Sec. 5.1's new softmax and Table 7's) and Table 7's SVM,
against scikit-learn fitted directly on the same standardized features."""

import numpy as np
import pytest

from zfnet_tf.transfer.heads import SoftmaxHead, fit_classifier


def separable(num_classes: int, seed: int):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_classes), 12)
    features = rng.normal(3.0, 2.0, (labels.size, 5)) + labels[:, None] * rng.normal(0, 1.5, 5)
    return features, labels, rng


@pytest.mark.parametrize("num_classes", [2, 4])
def test_the_softmax_gives_sklearns_probabilities_with_sample_weights(num_classes):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    features, labels, rng = separable(num_classes, num_classes)
    weights = rng.uniform(0.2, 2.0, labels.size)
    head = fit_classifier("softmax", features, labels, num_classes, c=0.3, sample_weight=weights)
    assert isinstance(head, SoftmaxHead) and head.kernel.shape == (5, num_classes) and head.converged
    scaler = StandardScaler().fit(features, sample_weight=weights)
    reference = LogisticRegression(C=0.3, max_iter=500).fit(scaler.transform(features), labels, sample_weight=weights)
    expected = reference.predict_proba(scaler.transform(features))
    np.testing.assert_allclose(head.probabilities(features), expected, atol=1e-5)
    np.testing.assert_array_equal(head.predict(features), expected.argmax(axis=1))
    # The weights matter: unweighted, the optimum moves.
    unweighted = fit_classifier("softmax", features, labels, num_classes, c=0.3)
    assert np.abs(unweighted.probabilities(features) - expected).max() > 1e-3


def test_the_svm_is_linear_svc_on_standardized_unit_length_features():
    from sklearn.preprocessing import Normalizer, StandardScaler
    from sklearn.svm import LinearSVC

    features, labels, _ = separable(3, 7)
    svm = fit_classifier("svm", features, labels, 3, c=0.5, max_iter=2000)
    unit = Normalizer().transform(StandardScaler().fit(features).transform(features))
    reference = LinearSVC(C=0.5, max_iter=2000).fit(unit, labels)
    np.testing.assert_allclose(svm.decision_function(features), reference.decision_function(unit), rtol=1e-6, atol=1e-8)
    with pytest.raises(ValueError, match="classifier must be one of .*'softmax', 'svm'.*got 'tree'"):
        fit_classifier("tree", features, labels, 3)
    with pytest.raises(TypeError, match=r"option\(s\) \['gamma'\]"):
        fit_classifier("svm", features, labels, 3, gamma=1.0)
