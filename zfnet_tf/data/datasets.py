"""Named datasets as un-augmented `tf.data` pipelines of (RGB 0-255 image, label).

`load_dataset` is the one entry point analyses and evaluation read data through; training
pipelines (augmentation, batching) are built on top of it.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from zfnet_tf.data.folders import list_image_folder, skip_undecodable_images

DATASETS = ("digits", "folder", "imagenet2012", "caltech101")
SPLITS = ("train", "test")

# scikit-learn's digits: 1,797 real 8x8 scans; a fixed stratified split keeps numbers comparable.
DIGITS_TEST_FRACTION = 0.25
DIGITS_SPLIT_SEED = 0


def digits_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The embedded digits as uint8 `[N, 8, 8]` (0-255) and int32 labels, for a fixed split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} for digits, got {split!r}")
    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    train_x, test_x, train_y, test_y = train_test_split(
        images,
        digits.target.astype(np.int32),
        test_size=DIGITS_TEST_FRACTION,
        random_state=DIGITS_SPLIT_SEED,
        stratify=digits.target,
    )
    return (train_x, train_y) if split == "train" else (test_x, test_y)


def resize_to_square(image: tf.Tensor, size: int, resize_size: int | None = None) -> tf.Tensor:
    """The evaluation transform: the shorter side resized to `resize_size` (default `size`:
    the whole image), bilinear with antialiasing, then the centre `size` x `size` square;
    float32 RGB 0-255.

    Sizes and offsets are torchvision's `Resize(resize_size)` and `CenterCrop(size)`, the
    transform ImageNet models are usually evaluated with (e.g. 256 and 224): the longer side
    becomes `floor(resize_size * long / short)` and the crop starts at `(side - size) / 2`
    rounded half to even. `ZFNetConfig.image_resize_size` says which `resize_size` a model
    takes.
    """
    resize = size if resize_size is None else int(resize_size)
    if resize < size:
        raise ValueError(f"resize_size must be >= the crop size {size}, got {resize}")
    image = tf.cast(image, tf.float32)
    shape = tf.shape(image)[:2]
    # Integer arithmetic gives torchvision's int(resize * long / short) exactly.
    new_shape = resize * shape // tf.reduce_min(shape)
    image = tf.image.resize(image, new_shape, method="bilinear", antialias=True)
    # tf.round rounds half to even, as Python's round in torchvision's CenterCrop.
    top, left = tf.unstack(tf.cast(tf.round(tf.cast(new_shape - size, tf.float32) / 2), tf.int32))
    image = image[top : top + size, left : left + size, :]
    image = tf.clip_by_value(image, 0.0, 255.0)
    image.set_shape([size, size, 3])
    return image


# Sub-folders that hold a folder dataset's splits (`root/train/<class>/...`, `root/val/...`).
FOLDER_SPLIT_NAMES = {"train": ("train",), "test": ("val", "validation", "test")}


def folder_split_root(data_dir: str, split: str) -> str:
    """`data_dir/train` or `data_dir/val` (or `validation`, `test`) when `data_dir` has both a
    training and an evaluation sub-folder; otherwise `data_dir` itself for every split."""
    def first_existing(names):
        return next((os.path.join(data_dir, n) for n in names if os.path.isdir(os.path.join(data_dir, n))), None)

    train, test = first_existing(FOLDER_SPLIT_NAMES["train"]), first_existing(FOLDER_SPLIT_NAMES["test"])
    if train and test:
        return train if split == "train" else test
    return data_dir


def _shard(dataset: tf.data.Dataset, shard: tuple[int, int] | None) -> tf.data.Dataset:
    if shard is None:
        return dataset
    num_shards, index = shard
    if not 0 <= index < num_shards:
        raise ValueError(f"shard index must be in [0, {num_shards}), got {index}")
    return dataset.shard(num_shards, index)


def _decode_file(path: tf.Tensor) -> tf.Tensor:
    return tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)


class LoadedDataset(NamedTuple):
    """A dataset of `(image, label)`, its class names and its number of examples."""

    dataset: tf.data.Dataset
    class_names: list[str]
    num_examples: int


def load_dataset(
    name: str,
    split: str = "test",
    data_dir: str | None = None,
    image_size: int = 224,
    resize_size: int | None = None,
) -> tuple[tf.data.Dataset, list[str]]:
    """`load_examples` without the count: `(dataset, class_names)`."""
    loaded = load_examples(name, split, data_dir, image_size, resize_size=resize_size)
    return loaded.dataset, loaded.class_names


def load_examples(
    name: str,
    split: str = "test",
    data_dir: str | None = None,
    image_size: int = 224,
    shard: tuple[int, int] | None = None,
    resize_size: int | None = None,
) -> LoadedDataset:
    """An un-augmented, unbatched dataset of `(image float32 [S, S, 3] in 0-255, label int32)`.

    Args:
        name: "digits" (embedded, no network), "folder" (class sub-folders under `data_dir`),
            or a TFDS name ("imagenet2012" needs its manual download under `data_dir`;
            "caltech101").
        split: "train" or "test" ("test" maps to TFDS "validation" for ImageNet).
        data_dir: the folder for "folder" (class sub-folders; or `train/` and `val/` folders
            of class sub-folders, one per split); the TFDS data dir otherwise (for
            "imagenet2012": the manual download folder).
        image_size: output side; images are resized (smaller side) and centre-cropped.
        resize_size: the side the smaller side is resized to before the centre crop
            (default `image_size`; a model's is `config.image_resize_size`).
        shard: `(num_shards, index)`: keep every `num_shards`-th example from `index` on,
            chosen before decoding (TFDS: whole files), for one worker of several.
            `num_examples` stays the size of the whole split.

    A folder's corrupt or non-image files are skipped with one warning naming them.

    Returns:
        A `LoadedDataset`: the dataset, the class names and the number of examples.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {DATASETS}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")

    if name == "digits":
        images, labels = digits_arrays(split)
        dataset = _shard(tf.data.Dataset.from_tensor_slices((images[..., None], labels)), shard)
        dataset = dataset.map(
            lambda image, label: (
                resize_to_square(
                    tf.image.grayscale_to_rgb(tf.cast(image, tf.float32)), image_size, resize_size
                ),
                label,
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        return LoadedDataset(dataset, [str(d) for d in range(10)], len(labels))

    if name == "folder":
        if data_dir is None:
            raise ValueError("dataset 'folder' needs data_dir: a folder of class sub-folders")
        paths, labels, class_names = list_image_folder(folder_split_root(data_dir, split))
        paths, labels, _ = skip_undecodable_images(paths, labels, root=data_dir)
        dataset = tf.data.Dataset.from_tensor_slices((paths, np.asarray(labels, np.int32)))
        dataset = _shard(dataset, shard)
        dataset = dataset.map(
            lambda path, label: (resize_to_square(_decode_file(path), image_size, resize_size), label),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        # A file whose header and structure check out can still be truncated: drop it rather
        # than end an epoch (TensorFlow logs which element failed). The known count stays.
        dataset = dataset.ignore_errors(log_warning=True)
        return LoadedDataset(dataset, class_names, len(paths))

    import tensorflow_datasets as tfds

    tfds_split = {"imagenet2012": {"train": "train", "test": "validation"}}.get(
        name, {"train": "train", "test": "test"}
    )[split]
    download_config = None
    if name == "imagenet2012":
        download_config = tfds.download.DownloadConfig(manual_dir=data_dir)
    builder = tfds.builder(name, data_dir=data_dir if name != "imagenet2012" else None)
    builder.download_and_prepare(download_config=download_config)
    read_config = None
    if shard is not None:
        read_config = tfds.ReadConfig(
            input_context=tf.distribute.InputContext(
                num_input_pipelines=shard[0], input_pipeline_id=shard[1]
            )
        )
    dataset = builder.as_dataset(
        split=tfds_split,
        as_supervised=True,
        shuffle_files=split == "train",
        read_config=read_config,
    )
    class_names = list(builder.info.features["label"].names)
    dataset = dataset.map(
        lambda image, label: (
            resize_to_square(image, image_size, resize_size),
            tf.cast(label, tf.int32),
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return LoadedDataset(dataset, class_names, _tfds_num_examples(builder, tfds_split, dataset))


def _tfds_num_examples(builder, split: str, dataset: tf.data.Dataset) -> int:
    """The split's size from the dataset's metadata, else from the dataset itself."""
    try:
        return int(builder.info.splits[split].num_examples)
    except KeyError:  # metadata without split sizes (e.g. tfds.testing.mock_data)
        cardinality = int(dataset.cardinality())
        if cardinality >= 0:
            return cardinality
        return int(dataset.reduce(0, lambda count, _: count + 1))
