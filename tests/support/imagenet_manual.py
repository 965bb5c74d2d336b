"""A real ImageNet 2012 manual-download folder, small: what `tfds.builder("imagenet2012")`
prepares offline, in the layout of the real archives.

    ILSVRC2012_img_train.tar   one <wnid>.tar per class, each holding <wnid>_<i>.JPEG
    ILSVRC2012_img_val.tar     ILSVRC2012_val_%08d.JPEG

TFDS labels the validation images by position: the sorted names of the validation tar are
paired with the first lines of its own `validation_labels.txt`. So the validation images are
the first N of the real validation set, and the classes are the ones those N carry (the
first 6: n01751748 sea snake, n09193705 alp, n02105855 Shetland sheepdog, ...). Every class
gets its own colour and stripes (`class_images.class_image`), so a small network can learn them.
"""

import io
import os
import tarfile

from support.class_images import class_image

TRAIN_TAR = "ILSVRC2012_img_train.tar"
VALIDATION_TAR = "ILSVRC2012_img_val.tar"


def validation_labels(count: int) -> list[str]:
    """The WordNet IDs of the first `count` validation images, from TFDS' own list."""
    import tensorflow_datasets as tfds

    path = tfds.core.tfds_path("datasets/imagenet2012/validation_labels.txt")
    return path.read_text().split()[:count]


def _jpeg(label: int, index: int, size: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(class_image(label, index, size)).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def write_imagenet_manual_folder(folder, images_per_class: int = 6, num_validation: int = 6, size: int = 72) -> dict:
    """Writes the two archives into `folder`; returns `{"wordnet_ids": the classes in order,
    "validation": the validation images' WordNet IDs, "folder": folder}`."""
    os.makedirs(folder, exist_ok=True)
    labels = validation_labels(num_validation)
    wordnet_ids = list(dict.fromkeys(labels))
    with tarfile.open(os.path.join(folder, TRAIN_TAR), "w") as outer:
        for label, wnid in enumerate(wordnet_ids):
            inner = io.BytesIO()
            with tarfile.open(fileobj=inner, mode="w") as class_tar:
                for index in range(images_per_class):
                    _add(class_tar, f"{wnid}_{index}.JPEG", _jpeg(label, index, size))
            _add(outer, f"{wnid}.tar", inner.getvalue())
    with tarfile.open(os.path.join(folder, VALIDATION_TAR), "w") as archive:
        for position, wnid in enumerate(labels):
            # Unseen images of the class: indices past the training ones.
            data = _jpeg(wordnet_ids.index(wnid), images_per_class + position, size)
            _add(archive, f"ILSVRC2012_val_{position + 1:08d}.JPEG", data)
    return {"wordnet_ids": wordnet_ids, "validation": labels, "folder": os.fspath(folder)}
