"""Top-1 / top-5 error of a trained model, by centre crop or the paper's 10-crop average."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras
import tensorflow as tf

from zfnet_tf.data import DataSource, load_data, resize_size
from zfnet_tf.data.augmentation import TEN_CROPS_CENTRE
from zfnet_tf.data.pipelines import CROPS, evaluation_pipeline
from zfnet_tf.deconv.graph import ends_in_softmax
from zfnet_tf.models import input_size, zfnet_backbone


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
    on (`zfnet_tf.data.LoadedData.report`: the source, its size, the files skipped)."""

    results: tuple[EvaluationResult, ...]
    data: dict

    def to_dict(self) -> dict:
        return {"results": [r.to_dict() for r in self.results], "data": self.data}


class CropAveraging(keras.Model):
    """A classifier over several crops of each image: `[B, K, S, S, 3]` (or `[B, S, S, 3]`, one
    crop) to the mean of the crops' class probabilities `[B, C]`, the paper's 10-crop
    evaluation (Zeiler & Fergus, Sec. 3, after Krizhevsky et al.). It owns no variables: it
    runs the classifier it wraps.

    Args:
        classifier: logits out, or probabilities from a final softmax (`ends_in_softmax`).
    """

    def __init__(self, classifier: keras.Model, **kwargs):
        super().__init__(**{"name": "crop_averaging", **kwargs})
        self.classifier = classifier
        self._softmax = not ends_in_softmax(classifier)
        self._image_shape = tuple(classifier.inputs[0].shape[1:])

    def call(self, crops):
        return tf.reduce_mean(self.crop_probabilities(crops), axis=1)

    def crop_probabilities(self, crops):
        """Each crop's class probabilities: `[B, K, C]` (K = 1 for `[B, S, S, 3]`)."""
        images = tf.reshape(crops, [-1, *self._image_shape])
        outputs = tf.cast(self.classifier(images, training=False), tf.float32)
        probabilities = tf.nn.softmax(outputs, axis=-1) if self._softmax else outputs
        return tf.reshape(probabilities, [tf.shape(crops)[0], -1, probabilities.shape[-1]])


def evaluate_model(
    model: keras.Model,
    data: DataSource | str,
    crops: tuple[str, ...] = CROPS,
    batch_size: int = 64,
) -> Evaluation:
    """Top-1 and top-5 error of `model` on a data source's split (`DataSource.limit`: its
    first examples only), per cropping.

    Zeiler & Fergus (arXiv 1311.2901), Sec. 3 and Table 2: images are resized (smaller side to
    the model's `resize_size`, else 256 for 224 inputs and alike for other sizes) and
    centre-cropped to that square; "center" scores the centre crop, "ten" averages the softmax of the
    4 corner and centre crops and their mirror images (`CropAveraging`). Keras' own metrics
    count: "top-5 error" counts an image wrong when its class is not among the 5 most probable
    (among all classes when there are fewer than 5).
    """
    for crop in crops:
        if crop not in CROPS:
            raise ValueError(f"crops must be among {CROPS}, got {crop!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    size = input_size(model)
    # The model's own resize when it has one; else the training pipeline's (the paper's 256
    # for 224: `zfnet_tf.data.pipelines.resize_size`), so crops see what training saw.
    backbone = zfnet_backbone(model)
    resize = backbone.config.resize_size if backbone is not None else getattr(model, "resize_size", None)
    num_classes = int(model.outputs[0].shape[-1])
    loaded = load_data(data, resize or resize_size(size))  # read (and checked) once for every crop
    if len(loaded.class_names) != num_classes:
        raise ValueError(
            f"the model has {num_classes} classes but {loaded.source.describe()} has "
            f"{len(loaded.class_names)}"
        )
    # One pass for every cropping: the ten crops hold the centre crop, so its probabilities
    # score "center" too (one forward pass of each crop, one graph).
    read = "ten" if "ten" in crops else "center"
    batches = evaluation_pipeline(loaded.dataset, size, batch_size, crops=read)
    spec = batches.element_spec[0]
    probabilities = tf.function(
        CropAveraging(model).crop_probabilities, input_signature=[tf.TensorSpec([None, *spec.shape[1:]], spec.dtype)]
    )
    # Keras' accuracies keep the count of hits (`total`) and of images (`count`) they average:
    # read them, for exact error ratios and the number of images.
    metrics = {
        crop: (keras.metrics.SparseCategoricalAccuracy(name="top1"),
               keras.metrics.SparseTopKCategoricalAccuracy(min(5, num_classes), name="top5"))
        for crop in crops
    }
    for images, labels in batches:
        per_crop = probabilities(images)
        scored = {"center": per_crop[:, TEN_CROPS_CENTRE if read == "ten" else 0],
                  "ten": tf.reduce_mean(per_crop, axis=1)}
        for crop, (top1, top5) in metrics.items():
            top1.update_state(labels, scored[crop])
            top5.update_state(labels, scored[crop])
    results = []
    for crop in crops:
        top1, top5 = metrics[crop]
        seen = int(top1.count.numpy())
        if seen == 0:
            raise ValueError(f"{loaded.source.describe()} has no examples")
        errors = [(seen - int(metric.total.numpy())) / seen for metric in (top1, top5)]
        results.append(EvaluationResult(crop, *errors, seen))
    return Evaluation(tuple(results), loaded.report())
