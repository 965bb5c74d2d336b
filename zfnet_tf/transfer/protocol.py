"""The paper's transfer protocol (Sec. 5.1, Tables 4-5, Fig. 9) as one experiment.

`TransferExperiment(model, params).run(data)` draws `splits` random splits for every N
training images a class, fits (a) a new softmax on a frozen layer's features (fc7, layers 1-7
kept fixed, for ZFNet; any named layer of any supported model; computed once for the whole
pool), (b) optionally the same network from scratch and (c) optionally the fine-tuned network, and reports the mean per-class accuracy ± std over splits; the result's
`save(out_dir)` writes the paper's table (`transfer.json`, `table.txt`), Fig. 9
(`fig9_accuracy.png`) and the transferred classifier (`classifier.keras`). It has the shape of
every analysis (`zfnet_tf.analysis.base`): `TransferParams` in, `TransferResult` out. The
paper's protocol of a dataset is `get_protocol(name)`; the experiment runs the params it is
given, whatever the data.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from zfnet_tf.analysis.base import Analysis, Params, Result, check_int, check_layer
from zfnet_tf.data import POOLED_DATASETS, DataSource, ImageCollection, image_collection, make_split
from zfnet_tf.files import write_text
from zfnet_tf.models import save_model, zfnet_backbone
from zfnet_tf.transfer.features import FeatureCache, FeatureExtractor
from zfnet_tf.transfer.heads import SoftmaxHead, scratch_classifier, transferred_classifier
from zfnet_tf.transfer.measure import mean_per_class_accuracy, split_seeds
from zfnet_tf.transfer.training import SplitTrainer, predict_classes
from zfnet_tf.progress import keras_verbose

# arXiv 1311.2901 v3, mean per-class accuracy in % (mean, std or None where not quoted).
PAPER_RESULTS: dict[str, dict[str, dict[str, tuple[float, float | None]]]] = {
    "caltech101": {  # Table 4
        "softmax": {"15": (83.8, 0.5), "30": (86.5, 0.5)},
        "scratch": {"30": (46.5, None)},
    },
    "caltech256": {  # Table 5
        "softmax": {"15": (65.7, None), "30": (70.6, None), "45": (72.7, None), "60": (74.2, 0.3)},
        "scratch": {"60": (38.8, None)},
    },
}

PAPER_ROW_LABELS = {
    "softmax": "paper v3: ImageNet-pretrained + softmax",
    "scratch": "paper v3: non-pretrained",
}

DATASET_TITLES = {
    "caltech101": "Caltech-101 (paper Table 4)",
    "caltech256": "Caltech-256 (paper Table 5)",
    "folder": "image folder",
    "digits": "scikit-learn digits",
}

METHODS = ("softmax", "scratch", "finetune")


@dataclass(frozen=True)
class TransferParams(Params):
    """What one transfer experiment does (defaults: Caltech-101's protocol, paper Table 4).

    Attributes:
        layer: the frozen layer whose output the new softmax reads: a layer name, or a ZFNet
            layer number; None: the layer that feeds the model's classifier (fc7 for ZFNet).
        max_dimensions: a convolutional layer's maps are average-pooled within this many values.
        train_per_class: the N's: training images drawn from every class.
        test_per_class: test images per class, drawn from the rest of the class (at most
            that many; None or 0: all the rest).
        splits: random splits per N; split k uses seed `seed + k` for every N.
        seed: the first split's seed.
        softmax_c: inverse L2 strength of the new softmax (on standardized features).
        softmax_max_iter: L-BFGS iteration limit.
        feature_batch_size: images per forward pass when extracting features.
        scratch_epochs: epochs of the from-scratch baseline (the same architecture, fresh
            weights, trained on the same split); 0 skips it.
        scratch_learning_rate: its SGD learning rate (momentum 0.9, paper Sec. 3).
        finetune_epochs: epochs of fine-tuning the whole transferred network; 0 skips it.
        finetune_learning_rate: its SGD learning rate.
        train_batch_size: batch size of scratch training and fine-tuning.
        progress: show a progress bar over the splits.
    """

    layer: int | str | None = None
    max_dimensions: int = 4096
    train_per_class: tuple[int, ...] = (15, 30)
    test_per_class: int | None = 50
    splits: int = 5
    seed: int = 0
    softmax_c: float = 1.0
    softmax_max_iter: int = 500
    feature_batch_size: int = 64
    scratch_epochs: int = 30
    scratch_learning_rate: float = 1e-2
    finetune_epochs: int = 0
    finetune_learning_rate: float = 1e-4
    train_batch_size: int = 32

    progress: bool = False

    def check(self) -> None:
        train = tuple(sorted({int(n) for n in self.train_per_class}))
        if not train or train[0] < 1:
            raise ValueError(f"train_per_class needs positive values, got {self.train_per_class}")
        self._set("train_per_class", train)
        check_layer("layer", self.layer, optional=True)
        check_int("max_dimensions", self.max_dimensions, 1)
        check_int("test_per_class", self.test_per_class, 0, optional=True)
        if self.test_per_class == 0:  # the one place "0: all the rest" is read
            self._set("test_per_class", None)
        check_int("splits", self.splits, 1)
        check_int("seed", self.seed, 0)
        for name in ("scratch_epochs", "finetune_epochs"):
            check_int(name, getattr(self, name), 0)
        for name in ("softmax_max_iter", "feature_batch_size", "train_batch_size"):
            check_int(name, getattr(self, name), 1)
        for name in ("softmax_c", "scratch_learning_rate", "finetune_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")


# The paper's protocol per dataset. Caltech-256's test count is not stated in the paper; 25 a
# class is Griffin et al.'s benchmark setting (the paper follows their procedure).
PROTOCOLS: dict[str, TransferParams] = {
    "caltech101": TransferParams(train_per_class=(15, 30), test_per_class=50),
    "caltech256": TransferParams(train_per_class=(15, 30, 45, 60), test_per_class=25),
    "folder": TransferParams(train_per_class=(15, 30), test_per_class=None),
    "digits": TransferParams(train_per_class=(5, 10, 20), test_per_class=50),
}


def get_protocol(dataset: str, **overrides: Any) -> TransferParams:
    """The paper's protocol for `dataset` with fields overridden (None values are not given:
    the protocol's own stay)."""
    if dataset not in PROTOCOLS:
        raise ValueError(f"no transfer protocol for {dataset!r}; known: {sorted(PROTOCOLS)}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return PROTOCOLS[dataset].replace(**overrides) if overrides else PROTOCOLS[dataset]


@dataclass
class TransferResult(Result):
    """What `TransferExperiment.run` produced.

    Attributes:
        summary: the JSON-ready record (`to_json` adds the params); its "classifier" says which
            fit `classifier.keras` holds.
        table: the paper-shaped table as text.
        features: the pool's cached features `[N, D]` (row i is `collection.names[i]`).
        classifier_head: the softmax saved in the classifier file (largest N, first split).
        extractor: the frozen layers the features came from.
    """

    kind = "transfer"

    summary: dict
    table: str
    features: np.ndarray
    classifier_head: SoftmaxHead
    extractor: FeatureExtractor

    @functools.cached_property
    def classifier(self) -> keras.Model:
        """The transferred classifier: the frozen layers with `classifier_head` on top."""
        return transferred_classifier(self.extractor, self.classifier_head, self.summary["class_names"])

    def numbers(self) -> dict:
        return self.summary

    def figures(self):
        from zfnet_tf.transfer.figures import accuracy_figure

        summary = self.summary
        paper = {m: v for m, v in (summary["paper"] or {}).items() if m in summary["methods"]}
        title = f"Fig. 9: {summary['title']}, {summary['num_classes']} classes"
        return {"fig9_accuracy.png": accuracy_figure(summary["methods"], title, paper=paper)}

    def write_files(self, out_dir: str) -> list[str]:
        """`table.txt` and `classifier.keras` (which fit it holds: the summary's "classifier")."""
        table = write_text(os.path.join(out_dir, "table.txt"), self.table + "\n")
        classifier = save_model(self.classifier, os.path.join(out_dir, "classifier.keras"))
        return [table, classifier]


def transfer_collection(data, model: keras.Model) -> ImageCollection:
    """What a transfer experiment draws its splits from, however it is given: an
    `ImageCollection` (as is); a `zfnet_tf.data.DataSource`, or the name of a dataset listed
    image by image (`zfnet_tf.data.POOLED_DATASETS`: all its images, split "all"), read by
    `zfnet_tf.data.image_collection`; or labelled images: `(images, labels)` arrays, a
    `tf.data.Dataset` of `(image, label)`, ... (`zfnet_tf.analysis.analysis_data`), kept as
    uint8 pixels."""
    from zfnet_tf.analysis.data import analysis_data

    if isinstance(data, ImageCollection):
        return data
    if isinstance(data, str) and data in POOLED_DATASETS:
        return image_collection(DataSource(data, split="all"))
    if isinstance(data, DataSource):
        return image_collection(data)
    labelled = analysis_data(data, model)
    if not labelled.labelled:
        raise ValueError("a transfer experiment needs labelled images: (images, labels) or (image, label) pairs")
    images, labels = labelled.arrays()
    count = int(labels.max()) + 1
    class_names = labelled.class_names or tuple(str(c) for c in range(count))
    return ImageCollection(
        source=None,
        names=tuple(f"{class_names[label]}/image_{i:05d}" for i, label in enumerate(labels)),
        labels=labels,
        class_names=tuple(class_names),
        sources=np.clip(np.round(images), 0, 255).astype(np.uint8),
        origin=labelled.source,
    )


class TransferExperiment(Analysis):
    """Zeiler & Fergus (arXiv 1311.2901) Sec. 5.1: layers 1-7 of a trained model kept fixed,
    a new softmax trained on N images a class, mean per-class accuracy over random splits,
    against the same network trained from scratch on the same splits (Tables 4-5, Fig. 9).

    Args:
        model: any supported trained model: a ZFNet, a keras.applications network, a user's
            functional CNN (its weights are not changed).
        params: the `TransferParams`: the layer, N's, test count, splits, seeds, the baselines
            to run (default `TransferParams()`, Caltech-101's; `get_protocol(name)` gives a
            dataset's).
        feature_cache: shared feature cache (a new in-memory one by default).
        model_name: how the model is named in the results (e.g. its file).
    """

    params_class = TransferParams

    def __init__(
        self,
        model: keras.Model,
        params: TransferParams | None = None,
        feature_cache: FeatureCache | None = None,
        model_name: str | None = None,
        **overrides: Any,
    ):
        super().__init__(model, params, **overrides)
        self.feature_cache = feature_cache if feature_cache is not None else FeatureCache()
        self.extractor = FeatureExtractor(
            model, self.params.layer, self.params.feature_batch_size, self.params.max_dimensions
        )
        self.model_name = model_name or model.name

    def run(self, data) -> TransferResult:
        """Runs the protocol on `data`: an `ImageCollection`, a transfer dataset name or
        labelled images (`transfer_collection`)."""
        collection = transfer_collection(data, self.model)
        protocol = self.params
        started = time.perf_counter()
        seeds = split_seeds(protocol.seed, protocol.splits)
        # Fail on too-small classes before the expensive forward pass.
        for n in protocol.train_per_class:
            make_split(collection.labels, n, protocol.test_per_class, seeds[0], collection.class_names)

        batches_before = self.extractor.batches_processed
        extraction_started = time.perf_counter()
        features = self.feature_cache.features(self.extractor, collection)
        extraction = {
            "source": self.feature_cache.last_source,
            "forward_batches": self.extractor.batches_processed - batches_before,
            "batch_size": self.extractor.batch_size,
            "images": len(collection),
            "dimension": int(features.shape[1]),
            "seconds": round(time.perf_counter() - extraction_started, 3),
        }
        methods = self.methods(protocol)
        accuracies: dict[str, dict[int, list[float]]] = {m: {} for m in methods}
        test_counts: dict[int, list[int]] = {}
        convergence: dict[int, list[int]] = {}
        classifier_head = None
        # One network a baseline, its training step traced once for all the splits.
        trainers = {
            method: SplitTrainer(epochs, learning_rate, protocol.train_batch_size)
            for method, epochs, learning_rate in (
                ("scratch", protocol.scratch_epochs, protocol.scratch_learning_rate),
                ("finetune", protocol.finetune_epochs, protocol.finetune_learning_rate),
            )
            if epochs
        }
        bar = None
        if protocol.progress:
            bar = keras.utils.Progbar(
                len(protocol.train_per_class) * len(seeds), unit_name="split", stateful_metrics=methods,
                verbose=keras_verbose(),
            )
        for n in protocol.train_per_class:
            for k, seed in enumerate(seeds):
                split = make_split(
                    collection.labels, n, protocol.test_per_class, seed, collection.class_names
                )
                test_labels = collection.labels[split.test]
                test_counts.setdefault(n, []).append(int(split.test.size))
                head = SoftmaxHead.fit(
                    features[split.train],
                    collection.labels[split.train],
                    collection.num_classes,
                    c=protocol.softmax_c,
                    max_iter=protocol.softmax_max_iter,
                )
                convergence.setdefault(n, []).append(head.iterations)
                if n == protocol.train_per_class[-1] and k == 0:
                    classifier_head = head
                scores = {"softmax": head.predict(features[split.test])}
                for method, trainer in trainers.items():
                    keras.utils.set_random_seed(seed)
                    if method == "scratch":
                        start = scratch_classifier(self.extractor, collection.class_names)
                    else:
                        start = transferred_classifier(self.extractor, head, collection.class_names)
                    network = trainer.fit(start, collection, split)
                    scores[method] = predict_classes(network, collection, split.test)
                for method, predictions in scores.items():
                    accuracy = 100.0 * mean_per_class_accuracy(test_labels, predictions)
                    accuracies[method].setdefault(n, []).append(accuracy)
                if bar is not None:
                    bar.add(1, [(m, accuracies[m][n][-1]) for m in scores])

        summary = {
            "dataset": collection.dataset,
            "title": DATASET_TITLES.get(collection.dataset, collection.dataset),
            "model": self.model_name,
            "feature_layer": self.extractor.feature_layer,
            "input_size": self.extractor.image_size,
            "num_classes": collection.num_classes,
            "num_images": len(collection),
            "split_seeds": seeds,
            "measure": "mean per-class accuracy (%), mean and sample std (ddof=1) over splits",
            "feature_extraction": extraction,
            "methods": {
                method: {
                    "label": self.method_label(method, protocol),
                    "by_train_per_class": {
                        str(n): _aggregate(values, test_counts[n])
                        | ({"softmax_iterations": convergence[n]} if method == "softmax" else {})
                        for n, values in by_n.items()
                    },
                }
                for method, by_n in accuracies.items()
            },
            "paper": PAPER_RESULTS.get(collection.dataset),
            "class_names": list(collection.class_names),
        }
        largest = protocol.train_per_class[-1]
        summary["classifier"] = {
            "train_per_class": largest,
            "split_seed": seeds[0],
            "softmax_accuracy": accuracies["softmax"][largest][0],
        }
        table = format_table(summary, protocol)
        summary["seconds"] = round(time.perf_counter() - started, 3)
        return TransferResult(
            summary=summary,
            table=table,
            features=features,
            classifier_head=classifier_head,
            extractor=self.extractor,
            params=protocol,
            data=collection.report(),
        )

    @staticmethod
    def methods(protocol: TransferParams) -> tuple[str, ...]:
        """The methods `protocol` runs: the softmax, and the baselines it asks for."""
        return tuple(
            m
            for m, on in zip(METHODS, (True, protocol.scratch_epochs > 0, protocol.finetune_epochs > 0))
            if on
        )

    def method_label(self, method: str, protocol: TransferParams) -> str:
        layer = self.extractor.feature_layer
        frozen = "layers 1-7" if layer == "fc7" and zfnet_backbone(self.model) is not None else f"layers up to {layer}"
        return {
            "softmax": f"{frozen} frozen + new softmax",
            "scratch": f"trained from scratch ({protocol.scratch_epochs} epochs)",
            "finetune": f"fine-tuned whole network ({protocol.finetune_epochs} epochs)",
        }[method]


def _aggregate(values: list[float], test_counts: list[int]) -> dict:
    values_array = np.asarray(values, np.float64)
    return {
        "mean": round(float(values_array.mean()), 4),
        "std": round(float(values_array.std(ddof=1)) if len(values) > 1 else 0.0, 4),
        "splits": [round(v, 4) for v in values],
        "test_images": test_counts,
    }


def format_table(summary: dict, protocol: TransferParams) -> str:
    """The paper's table: one row per method (and the paper's rows), one column per N."""
    ns = [str(n) for n in protocol.train_per_class]
    test = protocol.test_per_class
    lines = [
        f"{summary['title']}: mean per-class accuracy (%) over {protocol.splits} "
        f"split(s); {summary['num_classes']} classes, {summary['num_images']} images, "
        f"{'up to ' + str(test) if test else 'all other'} test images per class",
    ]
    rows = [(result["label"], result["by_train_per_class"]) for result in summary["methods"].values()]
    label_width = max([len(r[0]) for r in rows] + [40])
    header = "train images per class".ljust(label_width) + "".join(f"{n:>16}" for n in ns)
    lines += [header, "-" * len(header)]
    for label, by_n in rows:
        cells = "".join(
            f"{by_n[n]['mean']:>8.1f} ± {by_n[n]['std']:<5.1f}" if n in by_n else f"{'-':>16}"
            for n in ns
        )
        lines.append(label.ljust(label_width) + cells)
    for method, numbers in (summary.get("paper") or {}).items():
        if not set(numbers) & set(ns):
            continue
        label = PAPER_ROW_LABELS[method]
        cells = ""
        for n in ns:
            if n not in numbers:
                cells += f"{'-':>16}"
            elif numbers[n][1] is None:
                cells += f"{numbers[n][0]:>8.1f}" + " " * 8
            else:
                cells += f"{numbers[n][0]:>8.1f} ± {numbers[n][1]:<5.1f}"
        lines.append(label.ljust(label_width) + cells)
    return "\n".join(line.rstrip() for line in lines)
