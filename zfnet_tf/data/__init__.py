"""Datasets and images: the one place that knows where data comes from and how it is read.

`load_data(DataSource(name, data_dir, split=..., ...), image_size, resize_size)` reads any dataset
of `DATASETS` (the embedded digits, folders of class sub-folders, Caltech-101/256 folders or
TFDS, ImageNet 2012 from TFDS, PASCAL VOC 2012) as a `tf.data` pipeline of (RGB 0-255 image,
label), with its class names, its size and the files it skipped (`LoadedData.report()`, a
`data_record`); `image_collection` lists the same examples one by one (the transfer protocol's
pool). Each dataset is one source in `zfnet_tf.data.sources`, looked up by name. Files that are
not readable images are skipped with a warning naming each, or with `strict` are an error
naming the first.

The names below load on first use, so the command line reads `DATASETS` without paying
TensorFlow's start-up.
"""

from zfnet_tf.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "zfnet_tf.data.catalog": ("DATASETS", "POOLED_DATASETS", "SPLITS", "DataSource"),
        "zfnet_tf.data.sources": ("DatasetSource", "SOURCES", "class_names", "get_source"),
        "zfnet_tf.data.sources.digits": ("digits_pixels",),
        "zfnet_tf.data.sources.imagenet": ("ImageNetClasses", "imagenet_classes"),
        "zfnet_tf.data.sources.voc": ("VOC_CLASSES", "VOCImages", "voc_images"),
        "zfnet_tf.data.records": ("data_record",),
        "zfnet_tf.data.checks": ("SkippedFile", "SkippedFilesWarning", "check_images"),
        "zfnet_tf.data.collection": ("ImageCollection", "image_collection"),
        "zfnet_tf.data.datasets": ("LoadedData", "load_data"),
        "zfnet_tf.data.splits": ("Split", "make_split"),
        "zfnet_tf.data.folders": ("IMAGE_EXTENSIONS", "list_image_folder", "read_name_list"),
        "zfnet_tf.data.augmentation": (
            "center_crop", "random_crop_and_flip", "resize_size", "resize_to_square", "ten_crops",
        ),
        "zfnet_tf.data.pipelines": (
            "TrainingData", "evaluation_data", "evaluation_pipeline", "make_training_data",
            "read_to_the_end", "training_pipeline",
        ),
        "zfnet_tf.data.images": ("load_image_file", "load_image_files"),
        "zfnet_tf.data.samples": ("SAMPLE_PHOTOS", "sample_images"),
    },
)
