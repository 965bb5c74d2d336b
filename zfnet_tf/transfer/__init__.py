"""Transfer to Caltech-101/256, PASCAL VOC 2012 and other image sets with the paper's
protocols (Sec. 5.1).

Layers 1-7 of a trained model (or any named layer of any supported model) stay fixed and a new
softmax is trained on N images a class (features computed once per image and cached), against
the same network trained from scratch; mean per-class accuracy over random splits, as Tables
4-5 and Fig. 9. `VOCClassification` is Table 6: a softmax (and one-vs-rest logistic heads) on
the same features, mean average precision over the 20 VOC classes. The images come from
`zfnet_tf.data` (`image_collection(DataSource(name, data_dir, split="all"))`): every image of
Caltech-101/256, a folder or the digits once, the pool the protocol draws its splits from.
"""

from zfnet_tf.transfer.features import FeatureCache, FeatureExtractor, feature_layer_name
from zfnet_tf.transfer.heads import LogisticHeads, SoftmaxHead, scratch_classifier, transferred_classifier
from zfnet_tf.transfer.protocol import (
    PAPER_RESULTS,
    PROTOCOLS,
    TransferExperiment,
    TransferParams,
    TransferResult,
    format_table,
    get_protocol,
    transfer_collection,
)
from zfnet_tf.transfer.measure import mean_per_class_accuracy, split_seeds
from zfnet_tf.transfer.voc import (
    VOCClassification,
    VOCParams,
    VOCResult,
    voc_average_precision,
    write_submission,
)

__all__ = [
    "PAPER_RESULTS",
    "PROTOCOLS",
    "FeatureCache",
    "FeatureExtractor",
    "LogisticHeads",
    "SoftmaxHead",
    "TransferExperiment",
    "TransferParams",
    "TransferResult",
    "VOCClassification",
    "VOCParams",
    "VOCResult",
    "feature_layer_name",
    "format_table",
    "get_protocol",
    "mean_per_class_accuracy",
    "scratch_classifier",
    "split_seeds",
    "transfer_collection",
    "transferred_classifier",
    "voc_average_precision",
    "write_submission",
]
