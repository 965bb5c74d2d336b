"""Folders of class sub-folders (`root/<class>/<image>`), and lists of image names to leave out."""

from __future__ import annotations

import os
from typing import Iterable, Sequence

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp")


def folder_or_parent(data_dir: str, folder_name: str) -> str | None:
    """`data_dir` itself if it is named `folder_name`, or `data_dir/folder_name` if present."""
    data_dir = os.path.normpath(data_dir)
    if os.path.basename(data_dir) == folder_name and os.path.isdir(data_dir):
        return data_dir
    candidate = os.path.join(data_dir, folder_name)
    return candidate if os.path.isdir(candidate) else None


def class_folders(root: str, exclude: tuple[str, ...] = ()) -> list[str]:
    """The sorted class sub-folders of `root` (hidden ones and `exclude` left out)."""
    if not os.path.isdir(root):
        raise ValueError(f"image folder not found: {root}")
    names = sorted(
        entry.name
        for entry in os.scandir(root)
        if entry.is_dir() and not entry.name.startswith(".") and entry.name not in exclude
    )
    if not names:
        raise ValueError(f"image folder {root} has no class sub-folders")
    return names


def list_image_folder(
    root: str | os.PathLike, exclude_classes: Iterable[str] = ()
) -> tuple[list[str], list[int], list[str]]:
    """Lists `root/<class>/<file>` images: `(paths, labels, class_names)`.

    Classes are the sub-folders in sorted order (label = index), less `exclude_classes` (e.g.
    Caltech-256's `257.clutter`); files are those with an image extension, sorted, so the
    listing is the same on every machine. Whether a file really is an image is checked where
    it is read (`zfnet_tf.data.checks`).
    """
    root = os.fspath(root)
    class_names = class_folders(root, tuple(exclude_classes))
    paths: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(class_names):
        for file_name in sorted(os.listdir(os.path.join(root, name))):
            if file_name.lower().endswith(IMAGE_EXTENSIONS):
                paths.append(os.path.join(root, name, file_name))
                labels.append(label)
    if not paths:
        raise ValueError(f"image folder {root} has no image files ({', '.join(IMAGE_EXTENSIONS)})")
    return paths, labels, class_names


def read_name_list(path: str | os.PathLike) -> list[str]:
    """An exclude file: one image name a line (`class/file` or a bare file name); blank lines
    and lines starting with `#` are skipped."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"exclude file not found: {path}")
    with open(path, encoding="utf-8") as handle:
        lines = [line.strip() for line in handle]
    return [line.replace("\\", "/") for line in lines if line and not line.startswith("#")]


def match_exclusions(names: Sequence[str], exclusions: Iterable[str]) -> tuple[list[bool], tuple[str, ...]]:
    """Which of `names` (`class/file`, or `split/class/file`) an exclude list names:
    `(excluded flag per name, exclude entries that named nothing)`.

    An entry names an image by `class/file` or by its bare file name, in any letter case
    (TFDS spells Caltech's classes in lower case, the archive does not).
    """
    wanted = {entry.lower(): entry for entry in exclusions}
    used: set[str] = set()
    flags = []
    for name in names:
        parts = name.lower().split("/")
        keys = {parts[-1], "/".join(parts[-2:])} & wanted.keys()
        used |= keys
        flags.append(bool(keys))
    return flags, tuple(sorted(wanted[key] for key in wanted.keys() - used))
