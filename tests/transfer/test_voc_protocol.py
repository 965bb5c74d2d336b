"""PASCAL VOC 2012 (paper Table 6): the devkit's AP, the paper's softmax with spread targets,
the one-vs-rest logistic heads, the table, the figure and the submission files."""

import json
import os
import re

import numpy as np
import pytest
from PIL import Image

from support.voc_devkit import learnable_sets, write_vocdevkit
from zfnet_tf.data import DataSource
from zfnet_tf.data.sources.voc import VOC_CLASSES, voc_images
from zfnet_tf.transfer import VOCClassification, VOCParams, voc_average_precision
from zfnet_tf.transfer.voc import spread_targets


def interpolated_ap_by_definition(scores, truth):
    """AP as the devkit defines it, written out: for every recall level reached, the highest
    precision at that recall or beyond, times the recall gained (difficult images dropped)."""
    keep = [i for i in range(len(truth)) if truth[i] != 0]
    order = sorted(keep, key=lambda i: -scores[i])  # Python's sort is stable too
    positives = sum(1 for i in keep if truth[i] > 0)
    points = []
    tp = fp = 0
    for i in order:
        tp += truth[i] > 0
        fp += truth[i] < 0
        points.append((tp / positives, tp / (tp + fp)))
    ap, previous = 0.0, 0.0
    for recall in sorted({r for r, _ in points}):
        best = max(p for r, p in points if r >= recall)
        ap += (recall - previous) * best
        previous = recall
    return ap


def test_ap_of_a_hand_computed_precision_recall_curve():
    # Ranked: +, -, -, +, + (3 positives). Precision 1, 1/2, 1/3, 1/2, 3/5 at recall 1/3, 1/3,
    # 1/3, 2/3, 1. Interpolated: 1 up to recall 1/3, then max(1/2, 3/5) = 3/5 up to 2/3 and 3/5
    # up to 1: AP = (1 + 3/5 + 3/5) / 3 = 11/15.
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    truth = np.array([1, -1, -1, 1, 1])
    assert voc_average_precision(scores, truth) == pytest.approx(11 / 15)
    # scikit-learn's average precision does not interpolate: (1 + 1/2 + 3/5) / 3 = 0.7.
    from sklearn.metrics import average_precision_score

    assert average_precision_score(truth > 0, scores) == pytest.approx(0.7)
    # Shuffled input: the ranking, not the order given, decides.
    permutation = np.array([3, 0, 4, 2, 1])
    assert voc_average_precision(scores[permutation], truth[permutation]) == pytest.approx(11 / 15)


def test_difficult_images_are_ignored_for_their_class():
    scores = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5])
    truth = np.array([0, 1, -1, -1, 1, 1])  # the top-ranked image only holds a difficult one
    without = voc_average_precision(scores[1:], truth[1:])
    assert voc_average_precision(scores, truth) == pytest.approx(without) == pytest.approx(11 / 15)
    # A positive marked difficult is as if it were not there at all.
    assert voc_average_precision(np.array([0.9, 0.8, 0.7]), np.array([1, 0, -1])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no positive image"):
        voc_average_precision(np.array([0.5, 0.4]), np.array([-1, 0]))


def test_ap_equals_the_definition_on_random_rankings_with_ties_and_difficult_images():
    rng = np.random.default_rng(0)
    for _ in range(50):
        truth = rng.choice([-1, -1, 0, 1], size=30)
        truth[0] = 1
        scores = np.round(rng.random(30), 1)  # ties
        assert voc_average_precision(scores, truth) == pytest.approx(interpolated_ap_by_definition(scores, truth))


def test_the_softmax_target_is_spread_evenly_over_an_images_classes():
    """The weighted rows give the cross-entropy of the spread target: the head minimizes
    -sum_i sum_c t_ic log p_ic + |W|^2 / (2C), checked against SciPy's optimizer on that loss."""
    from scipy.optimize import minimize
    from scipy.special import log_softmax

    from zfnet_tf.transfer import SoftmaxHead

    truth = -np.ones((6, 3), np.int8)
    truth[[0, 1, 2, 3, 4, 5], [0, 1, 2, 0, 1, 2]] = 1
    truth[0, 1] = 1  # image 0 holds classes 0 and 1
    truth[3, 2] = 0  # image 3: class 0, and only a difficult class 2 (not in its target)
    rows, labels, weights = spread_targets(truth)
    assert rows.tolist() == [0, 0, 1, 2, 3, 4, 5] and labels.tolist() == [0, 1, 1, 2, 0, 1, 2]
    np.testing.assert_allclose(weights, [0.5, 0.5, 1, 1, 1, 1, 1])
    only_difficult = np.array([[0, -1, 1]], np.int8) * 0 - 1
    only_difficult[0, 1] = 0
    assert spread_targets(only_difficult)[1].tolist() == [1]

    rng = np.random.default_rng(1)
    features = rng.normal(0, 1, (6, 4)) + truth.clip(0, 1) @ rng.normal(0, 1, (3, 4))
    head = SoftmaxHead.fit(features[rows], labels, 3, c=2.0, sample_weight=weights, max_iter=5000)
    targets = np.zeros((6, 3))
    np.add.at(targets, (rows, labels), weights)
    standardized = (features - features.mean(0)) / features.std(0)

    def loss(theta):
        w, b = theta[:12].reshape(4, 3), theta[12:]
        return -(targets * log_softmax(standardized @ w + b, axis=1)).sum() + (w**2).sum() / (2 * 2.0)

    best = minimize(loss, np.zeros(15), method="L-BFGS-B", options={"maxiter": 5000, "gtol": 1e-10})
    w, b = best.x[:12].reshape(4, 3), best.x[12:]
    reference = np.exp(log_softmax(standardized @ w + b, axis=1))
    np.testing.assert_allclose(head.probabilities(features), reference, atol=2e-3)


@pytest.fixture(scope="module")
def devkit(tmp_path_factory):
    return write_vocdevkit(tmp_path_factory.mktemp("voc"), learnable_sets())


@pytest.fixture(scope="module")
def scored(devkit, tiny_backbone_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    result = VOCClassification(tiny_backbone_model, VOCParams(c=1.0)).run(DataSource("voc2012", devkit))
    written = result.save(out)
    return result, written, out


def test_both_heads_score_every_class_with_the_devkits_ap(scored, devkit):
    result, written, _ = scored
    val = voc_images(DataSource("voc2012", devkit), "val")
    truth = val.ground_truth()
    assert result.test_ids == val.image_ids and result.summary["num_test"] == 40
    for head in ("softmax", "logistic"):
        record = written["heads"][head]
        assert list(record["per_class_ap"]) == list(VOC_CLASSES)
        for k, name in enumerate(VOC_CLASSES):
            expected = 100 * interpolated_ap_by_definition(result.scores[head][:, k], truth[:, k])
            assert record["per_class_ap"][name] == pytest.approx(expected, abs=1e-6)
        assert record["mean_ap"] == pytest.approx(np.mean(list(record["per_class_ap"].values())))
        # Colour bands a random backbone tells apart: far above ranking at random (whose AP is
        # about the share of positives, 2-3 of 40 images a class here).
        assert record["mean_ap"] > 60, (head, record["mean_ap"])
    # The softmax's scores are one distribution per image; the logistic heads' are not.
    np.testing.assert_allclose(result.scores["softmax"].sum(1), 1, atol=1e-5)
    assert np.abs(result.scores["logistic"].sum(1) - 1).max() > 0.1


def test_table_json_figure_and_classifier(scored, tiny_backbone_model):
    result, written, out = scored
    on_disk = json.loads((out / "transfer.json").read_text())
    assert on_disk["heads"] == written["heads"] and on_disk["paper_mean_ap"] == 79.0
    assert on_disk["params"]["heads"] == ["softmax", "logistic"]
    assert on_disk["data"]["train"]["image_set"] == "train" and on_disk["data"]["test"]["num_examples"] == 40
    table = (out / "table.txt").read_text()
    lines = table.splitlines()
    mean_line = next(line for line in lines if line.startswith("mean"))
    softmax, logistic = (written["heads"][h]["mean_ap"] for h in ("softmax", "logistic"))
    assert mean_line.split() == ["mean", f"{softmax:.1f}", f"{logistic:.1f}", "79.0"]
    for name in VOC_CLASSES:
        row = next(line for line in lines if line.split()[:1] == [name])
        assert row.split()[1] == f"{written['heads']['softmax']['per_class_ap'][name]:.1f}"
    with Image.open(out / "voc_per_class_ap.png") as figure:
        assert figure.size[0] > 500
    import zfnet_tf

    classifier = zfnet_tf.load_model(str(out / "classifier.keras"))
    assert classifier.class_names == list(VOC_CLASSES)
    images = np.stack(list(voc_images(DataSource("voc2012", result.data["test"]["data_dir"]), "val")
                           .collection.images([0, 5], 64).as_numpy_iterator()))
    probabilities = zfnet_tf.analysis.base.softmax(np.asarray(classifier(images, training=False)))
    np.testing.assert_allclose(probabilities, result.scores["softmax"][[0, 5]], atol=1e-4)


def test_test_split_writes_the_devkits_submission_files(devkit, tiny_backbone_model, tmp_path):
    params = VOCParams(train_split="trainval", test_split="test", heads=("logistic",))
    result = VOCClassification(tiny_backbone_model, params).run(DataSource("voc2012", devkit))
    written = result.save(tmp_path)
    assert written["heads"]["logistic"]["mean_ap"] is None and not written["scored"]
    folder = tmp_path / "logistic" / "results" / "VOC2012" / "Main"
    files = sorted(os.listdir(folder))
    assert files == sorted(f"comp1_cls_test_{name}.txt" for name in VOC_CLASSES)
    test_ids = voc_images(DataSource("voc2012", devkit), "test").image_ids
    for k, name in enumerate(VOC_CLASSES):
        lines = (folder / f"comp1_cls_test_{name}.txt").read_text().splitlines()
        assert [line.split()[0] for line in lines] == list(test_ids)
        for line, score in zip(lines, result.scores["logistic"][:, k]):
            assert re.fullmatch(r"\d{4}_\d{6} \d\.\d{6}", line)
            assert float(line.split()[1]) == pytest.approx(score, abs=1e-6)
    assert not (tmp_path / "voc_per_class_ap.png").exists()


def test_bad_params_are_named():
    with pytest.raises(ValueError, match="heads must be among"):
        VOCParams(heads=("svm",))
    with pytest.raises(ValueError, match="trainval' holds the val images"):
        VOCParams(train_split="trainval", test_split="val")
