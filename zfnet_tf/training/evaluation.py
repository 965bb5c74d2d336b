"""Top-1 / top-5 error of a trained model, by centre crop or the paper's 10-crop average."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras
import tensorflow as tf

from zfnet_tf.data import DataSource, load_data, resize_size
from zfnet_tf.data.pipelines import CROPS, evaluation_pipeline
from zfnet_tf.models import get_backbone


@dataclass(frozen=True)
class EvaluationResult:
    """Errors in [0, 1] over `num_examples` images of one split, for one way of cropping."""

    crops: str
    top1_error: float
    top5_error: float
    num_examples: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Evaluation:
    """The errors of every cropping asked for, and the report of the data they were measured
    on (`LoadedData.report`: the source, its size, the files skipped)."""

    results: tuple[EvaluationResult, ...]
    data: dict

    def to_dict(self) -> dict:
        return {"results": [r.to_dict() for r in self.results], "data": self.data}


def evaluate_model(
    model: keras.Model,
    data: DataSource | str,
    crops: tuple[str, ...] = CROPS,
    batch_size: int = 64,
) -> Evaluation:
    """Top-1 and top-5 error of `model` on a data source's split (`DataSource.limit`: its
    first examples only), per cropping.

    Zeiler & Fergus (arXiv 1311.2901), Sec. 3 and Table 2: images are resized (smaller side to
    256 for 224 inputs, scaled alike for other sizes, or to the model's
    `config.resize_size`) and centre-cropped to that square; "center" scores
    the centre crop, "ten" averages the softmax of the 4 corner and centre crops and their
    mirror images. "Top-5 error" counts an image wrong when its class is not among the 5 most
    probable (among all classes when there are fewer than 5).
    """
    for crop in crops:
        if crop not in CROPS:
            raise ValueError(f"crops must be among {CROPS}, got {crop!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    backbone = get_backbone(model)
    size = backbone.config.input_size
    num_classes = int(model.output.shape[-1])
    top_k = min(5, num_classes)

    @tf.function(reduce_retracing=True)
    def probabilities(images):
        shape = tf.shape(images)
        flat = tf.reshape(images, [-1, size, size, 3])
        probs = tf.nn.softmax(tf.cast(model(flat, training=False), tf.float32), axis=-1)
        # [B * crops, C] -> mean over each image's crops (a single crop for "center").
        return tf.reduce_mean(tf.reshape(probs, [shape[0], -1, num_classes]), axis=1)

    # The side the crops are cut from: the model's, else the paper's 256 for 224 (scaled).
    loaded = load_data(data, backbone.config.resize_size or resize_size(size))
    if len(loaded.class_names) != num_classes:
        raise ValueError(
            f"the model has {num_classes} classes but {loaded.source.describe()} has "
            f"{len(loaded.class_names)}"
        )
    results = []
    for crop in crops:
        batches = evaluation_pipeline(loaded.dataset, size, batch_size, crops=crop)
        correct1 = correct5 = seen = 0
        for images, labels in batches:
            probs = probabilities(images)
            labels = tf.cast(labels, tf.int32)
            correct1 += int(tf.reduce_sum(tf.cast(tf.equal(tf.argmax(probs, -1, tf.int32), labels), tf.int32)))
            correct5 += int(tf.reduce_sum(tf.cast(tf.math.in_top_k(labels, probs, top_k), tf.int32)))
            seen += int(labels.shape[0])
        if seen == 0:
            raise ValueError(f"{loaded.source.describe()} has no examples")
        results.append(EvaluationResult(crop, 1 - correct1 / seen, 1 - correct5 / seen, seen))
    return Evaluation(tuple(results), loaded.report())
