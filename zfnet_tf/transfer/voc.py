"""PASCAL VOC 2012 classification on frozen features: the paper's Table 6 protocol.

Zeiler & Fergus (arXiv 1311.2901) Sec. 5.1: "we trained a new softmax classifier on top of
the ImageNet-pretrained convnet" on VOC 2012 and report the mean average precision over the
20 classes, 79.0%, noting that a softmax's one exclusive prediction per image suits scenes of
several objects poorly. Here: features of a frozen layer (fc7 by default, any named layer of
any supported model) for VOC's `train` (or `trainval`) images; the paper's head, one softmax
over the 20 classes with each training image's target spread evenly over its classes; beside
it 20 one-vs-rest logistic heads; scored on `val` (the offline stand-in for the evaluation
server) with the devkit's average precision, or written as the devkit's submission files for
`test`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import keras
import numpy as np

from zfnet_tf.analysis.base import Analysis, Params, Result, check_int, check_layer, check_number
from zfnet_tf.data import DataSource
from zfnet_tf.data.sources.voc import VOC_CLASSES, VOCImages, voc_images
from zfnet_tf.files import write_text
from zfnet_tf.models import save_model
from zfnet_tf.transfer.features import FeatureCache, FeatureExtractor
from zfnet_tf.transfer.heads import LogisticHeads, SoftmaxHead, transferred_classifier

HEADS = ("softmax", "logistic")
HEAD_LABELS = {
    "softmax": "softmax over 20 classes (paper)",
    "logistic": "20 one-vs-rest logistic heads",
}
# arXiv 1311.2901 v3, Table 6: mean AP (%) of ImageNet features + a new softmax, VOC 2012 test.
PAPER_MEAN_AP = 79.0


def voc_average_precision(scores: np.ndarray, truth: np.ndarray) -> float:
    """The VOC devkit's average precision of one class (VOCevalcls.m and VOCap.m, 2010 on).

    Images ranked by descending score (ties in the given order, as MATLAB's stable sort);
    those with truth 0 (only difficult instances of the class) are ignored; precision is made
    monotone (each point the maximum precision at any higher recall) and AP is the area under
    that interpolated precision-recall curve, over all points. scikit-learn's
    `average_precision_score` does not interpolate and gives other numbers.

    Args:
        scores: `[N]` confidence per image.
        truth: `[N]` 1 (the class is there), 0 (ignored), -1 (not there).
    """
    scores = np.asarray(scores, np.float64)
    truth = np.asarray(truth)
    if scores.shape != truth.shape or scores.ndim != 1:
        raise ValueError(f"scores and truth must be two [N] arrays, got {scores.shape} and {truth.shape}")
    positives = int((truth > 0).sum())
    if positives == 0:
        raise ValueError("the class has no positive image: its AP is undefined")
    order = np.argsort(-scores, kind="stable")
    ranked = truth[order]
    ranked = ranked[ranked != 0]
    tp = np.cumsum(ranked > 0)
    fp = np.cumsum(ranked < 0)
    recall = tp / positives
    precision = tp / np.maximum(tp + fp, 1)
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[0.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    changed = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[changed] - recall[changed - 1]) * precision[changed]))


def spread_targets(truth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The paper's softmax targets as weighted rows: each image once per class it holds (its
    non-difficult classes, else its difficult ones), weight 1/k for k classes, so the weighted
    cross-entropy is that of the target spread evenly over them. `(image rows, labels,
    weights)`."""
    rows, labels, weights = [], [], []
    for row, classes in enumerate(np.asarray(truth)):
        held = np.flatnonzero(classes == 1)
        if held.size == 0:
            held = np.flatnonzero(classes == 0)
        rows += [row] * held.size
        labels += held.tolist()
        weights += [1.0 / held.size] * held.size
    return np.asarray(rows, np.int64), np.asarray(labels, np.int64), np.asarray(weights, np.float64)


@dataclass(frozen=True)
class VOCParams(Params):
    """What the VOC 2012 experiment does.

    Attributes:
        layer: the frozen layer (a name, or a ZFNet layer number; None: the classifier's input).
        max_dimensions: a convolutional layer's maps are average-pooled within this many values.
        train_split: "train" or "trainval": the image set the heads are fitted on.
        test_split: "val" (scored: AP per class) or "test" (the devkit's submission files).
        heads: any of "softmax" (the paper's) and "logistic".
        c: inverse L2 strength of the heads (on standardized features).
        max_iter: L-BFGS iteration limit.
        feature_batch_size: images per forward pass.
        progress: print what it is doing.
    """

    layer: int | str | None = None
    max_dimensions: int = 4096
    train_split: str = "train"
    test_split: str = "val"
    heads: tuple[str, ...] = HEADS
    c: float = 1.0
    max_iter: int = 500
    feature_batch_size: int = 64
    progress: bool = False

    def check(self) -> None:
        check_layer("layer", self.layer, optional=True)
        check_int("max_dimensions", self.max_dimensions, 1)
        if self.train_split not in ("train", "trainval"):
            raise ValueError(f"train_split must be 'train' or 'trainval', got {self.train_split!r}")
        if self.test_split not in ("val", "test"):
            raise ValueError(f"test_split must be 'val' or 'test', got {self.test_split!r}")
        if self.train_split == "trainval" and self.test_split == "val":
            raise ValueError("train_split 'trainval' holds the val images: score on test_split 'test'")
        heads = (self.heads,) if isinstance(self.heads, str) else tuple(self.heads)
        if not heads or any(h not in HEADS for h in heads) or len(set(heads)) != len(heads):
            raise ValueError(f"heads must be among {HEADS}, got {list(heads)}")
        self._set("heads", heads)
        check_number("c", self.c, what=" > 0")
        if self.c <= 0:
            raise ValueError(f"c must be > 0, got {self.c!r}")
        check_int("max_iter", self.max_iter, 1)
        check_int("feature_batch_size", self.feature_batch_size, 1)


@dataclass
class VOCResult(Result):
    """What `VOCClassification.run` produced.

    Attributes:
        summary: the JSON record: per head `per_class_ap` (the 20 classes, %) and `mean_ap`
            (None for the unannotated test set), the paper's mean, what was read.
        table: Table 6's layout as text.
        scores: per head, the test images' confidences `[N, 20]`.
        test_ids: the test images' ids, in the rows' order.
        softmax_head: the fitted softmax (saved as `classifier.keras`), if it ran.
        extractor: the frozen layers the features came from.
    """

    kind = "transfer"

    summary: dict
    table: str
    scores: dict[str, np.ndarray] = field(repr=False)
    test_ids: tuple[str, ...] = field(repr=False)
    softmax_head: SoftmaxHead | None = field(default=None, repr=False)
    extractor: FeatureExtractor | None = field(default=None, repr=False)

    def numbers(self) -> dict:
        return self.summary

    def figures(self):
        from zfnet_tf.transfer.figures import average_precision_figure

        if self.summary["scored"]:
            return {"voc_per_class_ap.png": average_precision_figure(self.summary)}
        return {}

    def write_files(self, out_dir: str) -> list[str]:
        """`table.txt`; the softmax's `classifier.keras`; for the test set the devkit's
        submission files, `<head>/results/VOC2012/Main/comp1_cls_test_<class>.txt`."""
        files = [write_text(os.path.join(out_dir, "table.txt"), self.table + "\n")]
        if self.softmax_head is not None and self.extractor is not None:
            classifier = transferred_classifier(self.extractor, self.softmax_head, VOC_CLASSES)
            files.append(save_model(classifier, os.path.join(out_dir, "classifier.keras")))
        if self.summary["test_split"] == "test":
            for head, scores in self.scores.items():
                files += write_submission(os.path.join(out_dir, head), self.test_ids, scores, "test")
        return files


def write_submission(out_dir: str, image_ids, scores: np.ndarray, image_set: str = "test") -> list[str]:
    """The devkit's classification results, one file a class:
    `results/VOC2012/Main/comp1_cls_<image_set>_<class>.txt`, lines `<image id> <confidence>`
    (what the evaluation server reads, and what VOCevalcls.m reads offline)."""
    folder = os.path.join(out_dir, "results", "VOC2012", "Main")
    written = []
    for k, name in enumerate(VOC_CLASSES):
        lines = "".join(f"{image_id} {score:.6f}\n" for image_id, score in zip(image_ids, scores[:, k]))
        written.append(write_text(os.path.join(folder, f"comp1_cls_{image_set}_{name}.txt"), lines))
    return written


def format_voc_table(summary: dict) -> str:
    """Table 6's layout: a row per class, a column per head (AP %), the mean last, the
    paper's mean beside it."""
    heads = list(summary["heads"])
    width = 14
    lines = [
        f"PASCAL VOC 2012 (paper Table 6): average precision (%) on {summary['test_split']}, "
        f"heads fitted on {summary['train_split']} ({summary['num_train']} images) on "
        f"{summary['feature_layer']} features",
        "class".ljust(width) + "".join(f"{h:>12}" for h in heads) + f"{'paper v3':>12}",
    ]
    lines.append("-" * len(lines[-1]))
    for name in VOC_CLASSES:
        values = [summary["heads"][h]["per_class_ap"][name] for h in heads]
        cells = "".join(f"{'-':>12}" if v is None else f"{v:>12.1f}" for v in values)
        lines.append(name.ljust(width) + cells + f"{'-':>12}")
    lines.append("-" * len(lines[1]))
    cells = "".join(f"{summary['heads'][h]['mean_ap']:>12.1f}" for h in heads)
    lines.append("mean".ljust(width) + cells + f"{summary['paper_mean_ap']:>12.1f}")
    for head in heads:
        lines.append(f"  {head}: {HEAD_LABELS[head]}")
    return "\n".join(line.rstrip() for line in lines)


class VOCClassification(Analysis):
    """The paper's Table 6: frozen features, a new softmax (and one-vs-rest logistic heads),
    mean average precision over PASCAL VOC 2012's 20 classes.

    Args:
        model: any supported trained model (its weights are not changed).
        params: a `VOCParams` (or its fields as keywords).
        feature_cache: shared feature cache (a new in-memory one by default).
        model_name: how the model is named in the results.
    """

    params_class = VOCParams

    def __init__(self, model: keras.Model, params: VOCParams | None = None,
                 feature_cache: FeatureCache | None = None, model_name: str | None = None, **overrides):
        super().__init__(model, params, **overrides)
        self.feature_cache = feature_cache if feature_cache is not None else FeatureCache()
        self.extractor = FeatureExtractor(
            model, self.params.layer, self.params.feature_batch_size, self.params.max_dimensions
        )
        self.model_name = model_name or model.name

    def run(self, data: DataSource | str = "voc2012") -> VOCResult:
        """Runs on VOC 2012: a `DataSource("voc2012", data_dir, ...)` (its flags: strict,
        exclude file, limit per image set) or the name (TFDS' default data dir)."""
        source = DataSource(data) if isinstance(data, str) else data
        if source.name != "voc2012":
            raise ValueError(f"VOC classification reads dataset 'voc2012', got {source.name!r}")
        params = self.params
        started = time.perf_counter()
        train = voc_images(source, params.train_split)
        test = voc_images(source, params.test_split)
        if not train.annotated:
            raise ValueError(f"voc2012[{params.train_split}] has no annotations to train on")
        scored = params.test_split != "test" and test.annotated
        train_truth = train.ground_truth()
        extraction = {}
        features = {}
        for name, images in (("train", train), ("test", test)):
            self._say(f"features of voc2012[{images.image_set}]: {len(images)} images, layer {self.extractor.feature_layer}")
            before = self.extractor.batches_processed
            features[name] = self.feature_cache.features(self.extractor, images.collection)
            extraction[name] = {
                "source": self.feature_cache.last_source,
                "forward_batches": self.extractor.batches_processed - before,
                "images": len(images),
                "dimension": int(features[name].shape[1]),
            }
        heads, scores, softmax_head = {}, {}, None
        truth = test.ground_truth() if scored else None
        for head in params.heads:
            self._say(f"fitting the {HEAD_LABELS[head]}")
            if head == "softmax":
                rows, labels, weights = spread_targets(train_truth)
                fitted = SoftmaxHead.fit(features["train"][rows], labels, len(VOC_CLASSES), params.c,
                                         params.max_iter, sample_weight=weights)
                softmax_head = fitted
            else:
                fitted = LogisticHeads.fit(features["train"], train_truth, params.c, params.max_iter)
            scores[head] = fitted.probabilities(features["test"])
            record = {"label": HEAD_LABELS[head], "iterations": fitted.iterations, "converged": fitted.converged}
            if scored:
                per_class = {
                    name: 100.0 * voc_average_precision(scores[head][:, k], truth[:, k]) if (truth[:, k] > 0).any() else None
                    for k, name in enumerate(VOC_CLASSES)
                }
                defined = [v for v in per_class.values() if v is not None]
                record |= {"per_class_ap": per_class, "mean_ap": float(np.mean(defined))}
            else:
                record |= {"per_class_ap": None, "mean_ap": None}
            heads[head] = record
        summary = {
            "dataset": "voc2012",
            "title": "PASCAL VOC 2012 (paper Table 6)",
            "model": self.model_name,
            "feature_layer": self.extractor.feature_layer,
            "input_size": self.extractor.image_size,
            "train_split": params.train_split,
            "test_split": params.test_split,
            "num_train": len(train),
            "num_test": len(test),
            "scored": scored,
            "measure": "average precision (%), VOC devkit 2010+ (all-point interpolated; difficult-only images ignored)",
            "class_names": list(VOC_CLASSES),
            "positives": {
                name: int((truth[:, k] > 0).sum()) for k, name in enumerate(VOC_CLASSES)
            } if scored else None,
            "feature_extraction": extraction,
            "heads": heads,
            "paper_mean_ap": PAPER_MEAN_AP,
            "seconds": round(time.perf_counter() - started, 3),
        }
        table = format_voc_table(summary) if scored else (
            f"PASCAL VOC 2012 test ({len(test)} images): no annotations here; submission files "
            f"for the evaluation server are written per head ({', '.join(params.heads)})"
        )
        data = {"train": train.report(), "test": test.report()}
        return VOCResult(
            summary=summary, table=table, scores=scores, test_ids=test.image_ids,
            softmax_head=softmax_head, extractor=self.extractor, params=params, data=data,
        )

    def _say(self, message: str) -> None:
        if self.params.progress:
            print(message, flush=True)


__all__ = [
    "HEADS",
    "PAPER_MEAN_AP",
    "VOCClassification",
    "VOCImages",
    "VOCParams",
    "VOCResult",
    "format_voc_table",
    "spread_targets",
    "voc_average_precision",
    "write_submission",
]
