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
    TransferProtocol,
    mean_per_class_accuracy,
)

PROTOCOL = TransferProtocol(
    train_per_class=(2, 5), test_per_class=6, splits=2, seed=10, scratch_epochs=1, finetune_epochs=1
)


@pytest.fixture(scope="module")
def experiment(tmp_path_factory, tiny_backbone_model):
    from class_images import write_class_folders

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
    # The baselines ran on the same splits and are reported beside the softmax.
    for method in ("scratch", "finetune"):
        by_n = summary["methods"][method]["by_train_per_class"]
        assert sorted(by_n) == ["2", "5"]
        assert all(len(r["splits"]) == 2 and 0 <= r["mean"] <= 100 for r in by_n.values())


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
    protocol = TransferProtocol(train_per_class=(3,))
    experiment = TransferExperiment(tiny_backbone_model, protocol)
    with pytest.raises(ValueError, match=r"a \(3\)"):
        experiment.run(collection)
    assert experiment.extractor.batches_processed == 0
