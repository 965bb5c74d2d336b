"""Transfer to Caltech-101/256 and other image sets with the paper's protocol (Sec. 5.1).

Layers 1-7 of a trained model stay fixed and a new softmax is trained on N images a class
(features computed once per image and cached), against the same network trained from scratch;
mean per-class accuracy over random splits, as Tables 4-5 and Fig. 9.
"""

from zfnet_tf.transfer.datasets import (
    TRANSFER_DATASETS,
    ImageCollection,
    collection_from_folder,
    load_image_collection,
    read_name_list,
)
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
from zfnet_tf.transfer.splits import Split, make_split, mean_per_class_accuracy, split_seeds

__all__ = [
    "PAPER_RESULTS",
    "PROTOCOLS",
    "TRANSFER_DATASETS",
    "FeatureCache",
    "FeatureExtractor",
    "ImageCollection",
    "SoftmaxHead",
    "Split",
    "TransferExperiment",
    "TransferProtocol",
    "TransferResults",
    "collection_from_folder",
    "format_table",
    "get_protocol",
    "load_image_collection",
    "make_split",
    "mean_per_class_accuracy",
    "read_name_list",
    "split_seeds",
    "transfer_collection",
    "transferred_classifier",
]
