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


def test_training_the_transferred_network_leaves_the_extractors_model_alone():
    """Fine-tuning trains a copy: every split of the protocol starts from the pretrained
    weights, and the user's model is never changed."""
    import keras

    from zfnet_tf.transfer.features import FeatureExtractor
    from zfnet_tf.transfer.heads import transferred_classifier

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
        keras.layers.GlobalAveragePooling2D(name="pool"),
        keras.layers.Dense(3, name="logits"),
    ])
    extractor = FeatureExtractor(model, layer="pool")
    before = [w.copy() for w in model.get_weights()]
    rng = np.random.default_rng(0)
    head = SoftmaxHead(rng.normal(size=(4, 2)).astype(np.float32), np.zeros(2, np.float32))
    network = transferred_classifier(extractor, head, ["a", "b"])
    images = rng.uniform(0, 255, (8, 16, 16, 3)).astype(np.float32)
    # The transferred network starts as the extractor's features followed by the head.
    expected = extractor.features_model.predict(images, verbose=0) @ head.kernel + head.bias
    np.testing.assert_allclose(network.predict(images, verbose=0), expected, rtol=1e-5, atol=1e-5)
    network.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    network.fit(images, rng.integers(0, 2, 8), epochs=2, verbose=0)
    assert any(not np.allclose(a, b) for a, b in zip(network.get_weights(), [*before[:2], head.kernel, head.bias]))
    for now, then in zip(model.get_weights(), before):
        np.testing.assert_array_equal(now, then)
