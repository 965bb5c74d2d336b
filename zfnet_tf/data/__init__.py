"""Datasets and images: the one place that knows where data comes from and how it is read.

`load_data(DataSource(name, data_dir, split=..., ...), image_size, resize_size)` reads any dataset
of `DATASETS` (the embedded digits, folders of class sub-folders, Caltech-101/256 folders or
TFDS, ImageNet 2012 from TFDS) as a `tf.data` pipeline of (RGB 0-255 image, label), with its
class names, its size and the files it skipped (`LoadedData.report()`); `image_collection`
lists the same examples one by one (the transfer protocol's pool). Files that are not readable
images are skipped with a warning naming each, or with `strict` are an error naming the first.

The names below load on first use, so the command line reads `DATASETS` without paying
TensorFlow's start-up.
"""

from zfnet_tf.lazy import lazy_exports

_EXPORTS = {
    "DATASETS": "zfnet_tf.data.catalog",
    "POOLED_DATASETS": "zfnet_tf.data.catalog",
    "SPLITS": "zfnet_tf.data.catalog",
    "DataSource": "zfnet_tf.data.catalog",
    "class_names": "zfnet_tf.data.catalog",
    "digits_pixels": "zfnet_tf.data.catalog",
    "SkippedFile": "zfnet_tf.data.checks",
    "SkippedFilesWarning": "zfnet_tf.data.checks",
    "check_images": "zfnet_tf.data.checks",
    "ImageCollection": "zfnet_tf.data.collection",
    "image_collection": "zfnet_tf.data.collection",
    "LoadedData": "zfnet_tf.data.datasets",
    "load_data": "zfnet_tf.data.datasets",
    "Split": "zfnet_tf.data.splits",
    "make_split": "zfnet_tf.data.splits",
    "IMAGE_EXTENSIONS": "zfnet_tf.data.folders",
    "list_image_folder": "zfnet_tf.data.folders",
    "read_name_list": "zfnet_tf.data.folders",
    "center_crop": "zfnet_tf.data.augmentation",
    "random_crop_and_flip": "zfnet_tf.data.augmentation",
    "resize_size": "zfnet_tf.data.augmentation",
    "resize_to_square": "zfnet_tf.data.augmentation",
    "ten_crops": "zfnet_tf.data.augmentation",
    "TrainingData": "zfnet_tf.data.pipelines",
    "evaluation_data": "zfnet_tf.data.pipelines",
    "evaluation_pipeline": "zfnet_tf.data.pipelines",
    "make_training_data": "zfnet_tf.data.pipelines",
    "read_to_the_end": "zfnet_tf.data.pipelines",
    "training_pipeline": "zfnet_tf.data.pipelines",
    "ImageNetClasses": "zfnet_tf.data.imagenet",
    "imagenet_classes": "zfnet_tf.data.imagenet",
    "load_image_file": "zfnet_tf.data.images",
    "load_image_files": "zfnet_tf.data.images",
    "sample_images": "zfnet_tf.data.samples",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
