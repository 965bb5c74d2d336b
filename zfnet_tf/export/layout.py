"""TF Serving's model layout: `<base_path>/<version>/`, version a positive integer.

Shared by the exporter and the server; it imports nothing but the standard library.
"""

from __future__ import annotations

import os

# Inside a version: the labels of the logits, one a line (servers and clients answer with
# them). `assets.extra` is the SavedModel folder for files the graph does not read.
CLASS_NAMES_FILE = os.path.join("assets.extra", "class_names.txt")
# How an image becomes an input of `serving_default` and `project_layer{l}`, for clients that
# prepare images themselves (`classify_bytes` does it in the graph): a JSON object
# `{"input_size": S, "resize_size": R}`, the shorter side resized to R, then the centre S crop.
IMAGE_TRANSFORM_FILE = os.path.join("assets.extra", "image_transform.json")


def list_versions(base_path: str | os.PathLike) -> list[int]:
    """The versions under `base_path`, ascending: sub-folders named by a positive integer.

    Anything else (the exporter's temporary `.export-*` folders, README files) is not a
    version, as for TF Serving.
    """
    base_path = os.fspath(base_path)
    if not os.path.isdir(base_path):
        return []
    versions = []
    for entry in os.scandir(base_path):
        if entry.is_dir() and entry.name.isdigit() and int(entry.name) > 0:
            versions.append(int(entry.name))
    return sorted(versions)


def next_version(base_path: str | os.PathLike) -> int:
    """One more than the highest version under `base_path` (1 for none)."""
    versions = list_versions(base_path)
    return versions[-1] + 1 if versions else 1
