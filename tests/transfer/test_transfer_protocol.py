"""The whole protocol: accuracy on learnable classes, the table, Fig. 9, the classifier file."""

import json

import keras
import numpy as np
import pytest
from PIL import Image

import zfnet_tf
from zfnet_tf.data import DataSource, image_collection, make_split
from zfnet_tf.transfer import (
    SoftmaxHead,
    TransferExperiment,
    TransferParams,
    mean_per_class_accuracy,
)

PROTOCOL = TransferParams(
    train_per_class=(2, 5), test_per_class=6, splits=2, seed=10, scratch_epochs=1, finetune_epochs=1
)


@pytest.fixture(scope="module")
def experiment(tmp_path_factory, tiny_backbone_model):
    from support.class_images import write_class_folders

    root = write_class_folders(
        tmp_path_factory.mktemp("images"), {"red": 12, "green": 12, "blue": 12, "yellow": 12}
    )
    collection = image_collection(DataSource("folder", root, split="all"))
    out = tmp_path_factory.mktemp("out")
    results = TransferExperiment(tiny_backbone_model, PROTOCOL).run(collection)
    results.save(out)
    return collection, results, out


def test_classes_learnable_from_frozen_features_reach_high_accuracy(experiment):
    _, results, _ = experiment
    softmax = results.summary["methods"]["softmax"]["by_train_per_class"]
    # Colour-and-stripe classes are separable by a random tiny backbone's fc7 from 2 examples.
    assert softmax["2"]["mean"] >= 90.0
    assert softmax["5"]["mean"] >= 95.0


def test_reported_accuracies_recompute_from_the_recorded_seeds(experiment):
    collection, results, _ = experiment
    summary = results.summary
    assert summary["split_seeds"] == [10, 11]
    for n in (2, 5):
        recomputed = []
        for seed in summary["split_seeds"]:
            split = make_split(collection.labels, n, 6, seed)
            head = SoftmaxHead.fit(results.features[split.train], collection.labels[split.train], 4)
            predictions = head.predict(results.features[split.test])
            recomputed.append(100 * mean_per_class_accuracy(collection.labels[split.test], predictions))
        by_n = summary["methods"]["softmax"]["by_train_per_class"][str(n)]
        np.testing.assert_allclose(by_n["splits"], recomputed, atol=1e-3)
        assert by_n["mean"] == pytest.approx(np.mean(recomputed), abs=1e-3)
        assert by_n["std"] == pytest.approx(np.std(recomputed, ddof=1), abs=1e-3)
        assert by_n["test_images"] == [24, 24]
    # The baselines ran on the same splits: the same test images, and each split's number is a
    # mean per-class accuracy of 6 test images a class over 4 classes (a multiple of 100/24).
    for method in ("scratch", "finetune"):
        by_n = summary["methods"][method]["by_train_per_class"]
        assert sorted(by_n) == ["2", "5"]
        for n, result in by_n.items():
            assert result["test_images"] == [24, 24]
            hits = np.asarray(result["splits"]) * 24 / 100
            np.testing.assert_allclose(hits, np.round(hits), atol=1e-3)
            assert result["mean"] == pytest.approx(np.mean(result["splits"]), abs=1e-3)
    # Fine-tuning starts from the fitted softmax and moves little in one epoch at lr 1e-4:
    # on every split it stays within a few test images of the softmax it started from.
    softmax = summary["methods"]["softmax"]["by_train_per_class"]
    finetune = summary["methods"]["finetune"]["by_train_per_class"]
    for n in ("2", "5"):
        np.testing.assert_allclose(finetune[n]["splits"], softmax[n]["splits"], atol=100 * 3 / 24)


def test_the_scratch_baseline_is_the_same_architecture_with_fresh_weights(experiment, tiny_backbone_model):
    from zfnet_tf.transfer.heads import scratch_classifier

    collection, results, _ = experiment
    keras.utils.set_random_seed(3)
    network = scratch_classifier(results.extractor, collection.class_names)
    assert isinstance(network, zfnet_tf.ZFNetImageClassifier)
    assert network.class_names == list(collection.class_names)
    transferred = results.classifier
    assert [w.shape for w in network.weights] == [w.shape for w in transferred.weights]
    for fresh, trained in zip(network.backbone.weights, tiny_backbone_model.backbone.weights):
        if "kernel" in fresh.path:
            assert not np.allclose(keras.ops.convert_to_numpy(fresh), keras.ops.convert_to_numpy(trained))


def test_save_changes_nothing_and_runs_the_params_given(experiment, tmp_path):
    _, results, _ = experiment
    before = results.to_json()
    written = results.save(tmp_path)
    assert results.to_json() == before
    assert {k: v for k, v in written.items() if k != "files"} == before
    assert before["classifier"] == {
        "train_per_class": 5, "split_seed": 10,
        "softmax_accuracy": before["methods"]["softmax"]["by_train_per_class"]["5"]["splits"][0],
    }
    # The params recorded are the ones given: no dataset protocol swapped in behind them.
    assert before["params"] == PROTOCOL.to_json()


def test_no_protocol_is_swapped_in_and_test_count_zero_means_all_the_rest(tiny_backbone_model):
    from zfnet_tf.transfer import PROTOCOLS, get_protocol

    experiment = TransferExperiment(tiny_backbone_model)
    assert experiment.params == TransferParams() and experiment.params.scratch_epochs == 30
    assert TransferParams(test_per_class=0).test_per_class is None
    assert get_protocol("caltech101", test_per_class=0).test_per_class is None
    assert get_protocol("caltech101", test_per_class=None) == PROTOCOLS["caltech101"]
    with pytest.raises(ValueError, match="test_per_class must be an int >= 0"):
        TransferParams(test_per_class=-1)


def test_any_functional_model_transfers_from_a_named_layer(functional_cnn, tmp_path, class_folders):
    """A user's own CNN (not a ZFNet): features from a convolutional layer by name, pooled
    within the budget; the saved classifier computes the head's logits on those features; the
    scratch baseline is the same layers with fresh weights."""
    collection = image_collection(
        DataSource("folder", class_folders(tmp_path, {"a": 6, "b": 6, "c": 6}), split="all")
    )
    params = TransferParams(layer="conv2", max_dimensions=300, train_per_class=(3,), test_per_class=None,
                            splits=2, scratch_epochs=1)
    results = TransferExperiment(functional_cnn, params).run(collection)
    assert results.extractor.feature_layer == "conv2"
    assert results.features.shape == (18, 4 * 4 * 16)  # 13x13 maps pooled to a 4x4 grid
    written = results.save(tmp_path / "out")
    assert "layers up to conv2 frozen + new softmax" in results.table
    classifier = zfnet_tf.load_model(str(tmp_path / "out" / "classifier.keras"))
    assert classifier.class_names == ["a", "b", "c"]
    images = np.stack(list(collection.images([0, 7, 17], 32).as_numpy_iterator()))
    conv2 = keras.Model(functional_cnn.inputs, functional_cnn.get_layer("conv2").output)(images)
    pooled = keras.ops.convert_to_numpy(keras.ops.average_pool(conv2, 4, 4, padding="same")).reshape(3, -1)
    np.testing.assert_allclose(results.features[[0, 7, 17]], pooled, rtol=1e-5, atol=1e-5)
    logits = keras.ops.convert_to_numpy(classifier(images, training=False))
    np.testing.assert_allclose(logits, results.classifier_head.logits(pooled), rtol=1e-4, atol=1e-4)
    assert set(written["methods"]) == {"softmax", "scratch"}
    # The default layer is the one the classifier reads (through its dropout).
    assert TransferExperiment(functional_cnn, scratch_epochs=0).extractor.feature_layer == "fc"
    with pytest.raises(ValueError, match="--layer 'nope'"):
        TransferExperiment(functional_cnn, layer="nope")


def test_table_json_and_figure_are_written(experiment):
    _, results, out = experiment
    with open(out / "transfer.json") as handle:
        written = json.load(handle)
    assert written["methods"] == results.summary["methods"]
    assert written["params"]["train_per_class"] == [2, 5]
    table = (out / "table.txt").read_text()
    assert table.strip() == results.table
    assert "layers 1-7 frozen + new softmax" in table and "trained from scratch" in table
    softmax_5 = results.summary["methods"]["softmax"]["by_train_per_class"]["5"]
    assert f"{softmax_5['mean']:.1f} ± {softmax_5['std']:.1f}" in table
    with Image.open(out / "fig9_accuracy.png") as figure:
        assert figure.size[0] > 300 and figure.size[1] > 200
        pixels = np.asarray(figure.convert("RGB")).reshape(-1, 3).astype(int)
    # A curve per method, in its colour (matplotlib's tab:blue, tab:red, tab:green).
    for colour in ((31, 119, 180), (214, 39, 40), (44, 160, 44)):
        assert (np.abs(pixels - colour).sum(1) < 30).sum() > 50


def test_saved_classifier_computes_the_softmax_on_cached_features(experiment, tiny_backbone_model):
    collection, results, out = experiment
    classifier = zfnet_tf.load_model(str(out / "classifier.keras"))
    assert classifier.class_names == list(collection.class_names)
    assert classifier.num_classes == 4
    for saved, original in zip(classifier.backbone.weights, tiny_backbone_model.backbone.weights):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(saved), keras.ops.convert_to_numpy(original)
        )
    indices = [0, 13, 30, 47]
    images = np.stack(list(collection.images(indices, 64).as_numpy_iterator()))
    logits = keras.ops.convert_to_numpy(classifier(images, training=False))
    expected = results.classifier_head.logits(results.features[indices])
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    assert results.summary["classifier"]["train_per_class"] == 5


@pytest.mark.parametrize("num_classes", [2, 3])
def test_softmax_head_folds_standardization_into_the_probabilities_of_sklearn(num_classes):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(num_classes)
    labels = np.repeat(np.arange(num_classes), 10)
    features = rng.normal(5.0, 3.0, (labels.size, 6)) + labels[:, None] * rng.normal(0, 2, 6)
    head = SoftmaxHead.fit(features, labels, num_classes, c=0.5)
    scaler = StandardScaler().fit(features)
    reference = LogisticRegression(C=0.5, max_iter=500).fit(scaler.transform(features), labels)
    logits = head.logits(features).astype(np.float64)
    probabilities = np.exp(logits - logits.max(1, keepdims=True))
    probabilities /= probabilities.sum(1, keepdims=True)
    np.testing.assert_allclose(
        probabilities, reference.predict_proba(scaler.transform(features)), atol=1e-5
    )
    assert head.kernel.shape == (6, num_classes) and head.converged


def test_protocol_rejects_pools_too_small_for_n(tiny_backbone_model, tmp_path, class_folders):
    collection = image_collection(DataSource("folder", class_folders(tmp_path, {"a": 3, "b": 5}), split="all"))
    protocol = TransferParams(train_per_class=(3,))
    experiment = TransferExperiment(tiny_backbone_model, protocol)
    with pytest.raises(ValueError, match=r"a \(3\)"):
        experiment.run(collection)
    assert experiment.extractor.batches_processed == 0
