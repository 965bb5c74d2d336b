"""Per-layer features (Table 7): the features pooled as documented, accuracies from sklearn."""

import numpy as np
import pytest
import tensorflow as tf

from zfnet_tf.analysis import LayerFeatures
from zfnet_tf.data import DataSource, load_data


def test_pooled_features_equal_block_means(tiny_model):
    probe = LayerFeatures(tiny_model, layers=(1, 2, 5, 7), max_dimensions=600, progress=False)
    # norm1 is 15x15x24: 600 // 24 = 25 -> a 5x5 grid of 3x3 windows; norm2 (3x3x64 = 576
    # values) and pool5 fit the budget and are not pooled.
    assert probe.pooled_grid == {1: 5, 2: None, 5: None, 7: None}
    images = np.random.RandomState(0).uniform(0, 255, (3, 64, 64, 3)).astype(np.float32)
    labels = np.array([0, 1, 2], np.int32)
    features, read_labels = probe.features(tf.data.Dataset.from_tensor_slices((images, labels)))
    np.testing.assert_array_equal(read_labels, labels)
    maps = tiny_model.backbone.feature_extractor(["norm1", "norm2", "fc7"])(images)
    norm1 = maps["norm1"].numpy()
    expected = norm1.reshape(3, 5, 3, 5, 3, 24).mean(axis=(2, 4)).reshape(3, -1)
    np.testing.assert_allclose(features[1], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(features[2], maps["norm2"].numpy().reshape(3, -1), rtol=1e-6)
    np.testing.assert_allclose(features[7], maps["fc7"].numpy(), rtol=1e-6)


def test_accuracies_on_digits_match_sklearn_directly(tiny_model):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer, StandardScaler
    from sklearn.svm import LinearSVC

    train = load_data(DataSource("digits", split="train", limit=120), image_size=64).dataset
    test = load_data(DataSource("digits", split="test", limit=60), image_size=64).dataset
    probe = LayerFeatures(tiny_model, layers=(2, 7), max_dimensions=512, progress=False)
    result = probe.run({"train": train, "test": test})
    assert result.num_train == 120 and result.num_test == 60
    for name in ("softmax", "svm"):
        for layer in (2, 7):
            # Random conv features already separate digits far above chance (10%).
            assert 0.5 < result.accuracy[name][layer] <= 1.0
    x_train, y_train = probe.features(train)
    x_test, y_test = probe.features(test)
    # The softmax is transfer's (standardized multinomial logistic regression), the SVM
    # LinearSVC on standardized unit-length features: each scored as sklearn scores it.
    softmax = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x_train[7], y_train)
    assert result.accuracy["softmax"][7] == pytest.approx(softmax.score(x_test[7], y_test))
    svm = make_pipeline(StandardScaler(), Normalizer(), LinearSVC(max_iter=2000)).fit(x_train[2], y_train)
    assert result.accuracy["svm"][2] == pytest.approx(svm.score(x_test[2], y_test))


def test_unlabelled_data_and_missing_layers_are_named(tiny_model):
    import zfnet_tf

    probe = LayerFeatures(tiny_model, layers=(5,), progress=False)
    with pytest.raises(ValueError, match="labelled data"):
        probe.features(np.zeros((2, 64, 64, 3), np.float32))
    with pytest.raises(ValueError, match="layer 3 .* not in this network"):
        LayerFeatures(zfnet_tf.build_model("tiny", conv_blocks=tiny_model.config.conv_blocks[:2] + tiny_model.config.conv_blocks[4:]), layers=(3,))


def test_named_layers_of_vgg16_are_pooled_outputs_of_its_own_graph(vgg16, vgg16_layer):
    """Any model by layer name: VGG16's `block2_conv2` (16x16x128) average-pooled to the
    budget's grid, and `fc2` as it is, equal the application's own outputs so reduced."""
    probe = LayerFeatures(vgg16, layers=("block2_conv2", "fc2"), max_dimensions=2048, progress=False)
    # 2048 // 128 = 16 values per channel: a 4x4 grid of 4x4 windows.
    assert probe.pooled_grid == {"block2_conv2": 4, "fc2": None}
    assert LayerFeatures(vgg16).layers == ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3",
                                           "block5_conv3", "fc2")
    images = np.random.RandomState(2).uniform(0, 255, (5, 32, 32, 3)).astype(np.float32)
    features, labels = probe.features((images, np.arange(5) % 3))
    np.testing.assert_array_equal(labels, [0, 1, 2, 0, 1])
    conv, fc = vgg16_layer(images, "block2_conv2", "fc2")
    expected = conv.reshape(5, 4, 4, 4, 4, 128).mean(axis=(2, 4)).reshape(5, -1)
    np.testing.assert_allclose(features["block2_conv2"], expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(features["fc2"], fc, rtol=1e-4, atol=1e-5)
