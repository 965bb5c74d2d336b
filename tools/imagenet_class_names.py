"""Writes zfnet_tf/data/imagenet2012_classes.tsv: the 1000 ILSVRC-2012 classes in index order.

A development-time script (the package ships its output; nothing is fetched at run time).
WordNet IDs come from tensorflow-datasets' `imagenet2012/labels.txt` (the label order of TFDS,
of torchvision's ImageFolder over the sorted synset folders, and of imgclsmob's models); the
human names from torchvision's `models/_meta.py` `_IMAGENET_CATEGORIES` (same order), read
from a downloaded wheel without importing torchvision:

    pip download --no-deps torchvision==0.29.1 -d /tmp/tv
    python tools/imagenet_class_names.py /tmp/tv/torchvision-0.29.1-*.whl
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import zipfile

OUT = os.path.join(os.path.dirname(__file__), "..", "zfnet_tf", "data", "imagenet2012_classes.tsv")


def torchvision_categories(wheel: str) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        source = archive.read("torchvision/models/_meta.py").decode("utf-8")
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "_IMAGENET_CATEGORIES":
            return list(ast.literal_eval(node.value))
    raise SystemExit(f"{wheel}: torchvision/models/_meta.py has no _IMAGENET_CATEGORIES")


def tfds_wordnet_ids() -> list[str]:
    import tensorflow_datasets as tfds

    path = tfds.core.tfds_path("datasets/imagenet2012/labels.txt")
    return path.read_text().split()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", help="a torchvision wheel (.whl)")
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args(argv)
    names, ids = torchvision_categories(args.wheel), tfds_wordnet_ids()
    if len(names) != 1000 or len(ids) != 1000 or len(set(ids)) != 1000 or len(set(names)) != 1000:
        raise SystemExit(f"expected 1000 unique names and IDs, got {len(set(names))} and {len(set(ids))}")
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("".join(f"{wnid}\t{name}\n" for wnid, name in zip(ids, names)))
    print(f"wrote {os.path.normpath(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
