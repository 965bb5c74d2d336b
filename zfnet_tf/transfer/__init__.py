"""Transfer to Caltech-101/256 and other image sets with the paper's protocol (Sec. 5.1).

Layers 1-7 of a trained model stay fixed and a new softmax is trained on N images a class
(features computed once per image and cached), against the same network trained from scratch;
mean per-class accuracy over random splits, as Tables 4-5 and Fig. 9. The images come from
`zfnet_tf.data` (`image_collection(DataSource(name, data_dir, split="all"))`): every image of
Caltech-101/256, a folder or the digits once, the pool the protocol draws its splits from.
"""

from zfnet_tf.transfer.features import FeatureCache, FeatureExtractor
from zfnet_tf.transfer.heads import SoftmaxHead, transferred_classifier
from zfnet_tf.transfer.protocol import (
    PAPER_RESULTS,
    PROTOCOLS,
    TransferExperiment,
    TransferProtocol,
    TransferResults,
    format_table,
    get_protocol,
    transfer_collection,
)
from zfnet_tf.transfer.splits import mean_per_class_accuracy, split_seeds

__all__ = [
    "PAPER_RESULTS",
    "PROTOCOLS",
    "FeatureCache",
    "FeatureExtractor",
    "SoftmaxHead",
    "TransferExperiment",
    "TransferProtocol",
    "TransferResults",
    "format_table",
    "get_protocol",
    "mean_per_class_accuracy",
    "split_seeds",
    "transfer_collection",
    "transferred_classifier",
]
