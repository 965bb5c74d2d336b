"""TensorFlow Datasets, prepared once: the builder of a TFDS dataset, its split sizes, and its
records read without decoding, for the sources that read from TFDS (Caltech-101, ImageNet 2012,
PASCAL VOC 2012)."""

from __future__ import annotations

import contextlib
import io
import os
from typing import Iterator, Sequence

import tensorflow as tf
import tensorflow_datasets as tfds
from tensorflow_datasets.core.download import downloader

# TFDS retries a failed download 10 times with growing pauses (minutes without a network).
TFDS_DOWNLOAD_RETRIES = 3


def prepared_tfds_builder(
    name: str,
    data_dir: str | None = None,
    manual_dir: str | None = None,
    offline_remedy: str = "run once with network access",
    manual_archives: Sequence[str] = (),
    manual_source: str = "",
) -> tfds.core.DatasetBuilder:
    """TFDS' builder of dataset `name` (in the TFDS data dir `data_dir`, default
    `TFDS_DATA_DIR` or `~/tensorflow_datasets`), prepared: on first use from `manual_dir` (the
    folder of `manual_archives`, downloaded by hand from `manual_source`) or by downloading,
    with a progress line. A download that fails for want of a network is a
    `zfnet_tf.fetching.FetchError` saying what to do instead (`offline_remedy`)."""
    from zfnet_tf.fetching import fetching
    from zfnet_tf.progress import on_terminal, step

    if not on_terminal():
        tfds.disable_progress_bar()  # its bars are carriage returns and escape codes in a log
    builder = tfds.builder(name, data_dir=data_dir)
    if builder.is_prepared():
        return builder
    where = f"from {manual_dir}" if manual_archives else "(downloading)"
    retries = downloader.MAX_RETRIES
    downloader.MAX_RETRIES = min(retries, TFDS_DOWNLOAD_RETRIES)
    try:
        with step(f"preparing TFDS {name} {where} in {builder.data_dir_root}, once"), fetching(
            f"the TFDS dataset {name}", offline_remedy
        ), contextlib.redirect_stdout(io.StringIO()):  # TFDS' own banner says what `step` says
            builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    except AssertionError as error:  # TFDS' word for a manual folder without the archives
        if "manual" not in str(error).lower():
            raise
        folder = manual_dir or os.path.join(builder.data_dir_root, "downloads", "manual")
        raise ValueError(
            f"{name} is not prepared in {builder.data_dir_root} and {folder} holds neither "
            f"{' nor '.join(manual_archives)}: download them from {manual_source} into a folder "
            "and give it as --data-dir"
        ) from None
    finally:
        downloader.MAX_RETRIES = retries
    return builder


def label_names(name: str, data_dir: str | None = None) -> list[str]:
    """The label names of TFDS dataset `name`, from its metadata (nothing downloaded)."""
    return list(tfds.builder(name, data_dir=data_dir).info.features["label"].names)


def supervised_split(
    builder: tfds.core.DatasetBuilder, split: str, shuffle_files: bool, shard: tuple[int, int] | None = None
) -> tuple[tf.data.Dataset, int]:
    """`(image, label)` examples of `split` and the split's size; `shard` `(num_shards, index)`:
    that worker's share of the split's files."""
    read_config = None
    if shard is not None:
        read_config = tfds.ReadConfig(
            input_context=tf.distribute.InputContext(num_input_pipelines=shard[0], input_pipeline_id=shard[1])
        )
    dataset = builder.as_dataset(split=split, as_supervised=True, shuffle_files=shuffle_files, read_config=read_config)
    return dataset, split_size(builder, split, dataset)


def encoded_examples(builder: tfds.core.DatasetBuilder, splits: Sequence[str]) -> Iterator[dict]:
    """The examples of `splits`, one after the other in TFDS' file order, as NumPy, with their
    images still encoded (they decode when read, so a pool of them stays small)."""
    for split in splits:
        dataset = builder.as_dataset(
            split=split, shuffle_files=False, decoders={"image": tfds.decode.SkipDecoding()}
        )
        yield from dataset.as_numpy_iterator()


def split_size(builder: tfds.core.DatasetBuilder, split: str, dataset: tf.data.Dataset) -> int:
    """The split's size from the dataset's metadata, else from the dataset itself."""
    try:
        return int(builder.info.splits[split].num_examples)
    except KeyError:  # metadata without split sizes (e.g. tfds.testing.mock_data)
        cardinality = int(dataset.cardinality())
        if cardinality >= 0:
            return cardinality
        return int(dataset.reduce(0, lambda count, _: count + 1))
