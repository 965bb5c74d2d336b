"""Datasets and images: TFDS, folders, and real images that ship inside installed packages."""

from zfnet_tf.data.augmentation import center_crop, random_crop_and_flip, resize_size, ten_crops
from zfnet_tf.data.datasets import (
    DATASETS,
    LoadedDataset,
    load_dataset,
    load_examples,
    resize_to_square,
)
from zfnet_tf.data.folders import IMAGE_EXTENSIONS, list_image_folder
from zfnet_tf.data.folders import find_undecodable_images, skip_undecodable_images
from zfnet_tf.data.imagenet import ImageNetClasses, imagenet_classes
from zfnet_tf.data.images import load_image_file, load_image_files
from zfnet_tf.data.pipelines import (
    TrainingData,
    evaluation_data,
    evaluation_pipeline,
    make_training_data,
    training_pipeline,
)
from zfnet_tf.data.samples import sample_images

__all__ = [
    "DATASETS",
    "LoadedDataset",
    "TrainingData",
    "center_crop",
    "evaluation_data",
    "evaluation_pipeline",
    "find_undecodable_images",
    "load_dataset",
    "load_examples",
    "make_training_data",
    "random_crop_and_flip",
    "resize_size",
    "resize_to_square",
    "skip_undecodable_images",
    "ten_crops",
    "training_pipeline",
    "IMAGE_EXTENSIONS",
    "ImageNetClasses",
    "imagenet_classes",
    "list_image_folder",
    "load_image_file",
    "load_image_files",
    "sample_images",
]
