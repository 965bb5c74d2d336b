"""Generated class folders for the data and transfer tests: classes a random backbone can tell apart."""

import io
import os
import struct
import zlib

import numpy as np

# Class k: its own colour and stripe direction, with per-image noise and phase, so classes are
# separable by colour and texture even through a random-weight backbone.
CLASS_STYLES = [
    ((220, 40, 40), "horizontal"),
    ((40, 200, 60), "vertical"),
    ((50, 70, 230), "diagonal"),
    ((230, 210, 40), "checker"),
]


def class_image(label: int, index: int, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(1000 * label + index)
    colour, pattern = CLASS_STYLES[label % len(CLASS_STYLES)]
    y, x = np.mgrid[0:size, 0:size]
    phase = rng.integers(0, 8)
    period = 8
    wave = {
        "horizontal": (y + phase) // (period // 2) % 2,
        "vertical": (x + phase) // (period // 2) % 2,
        "diagonal": (x + y + phase) // (period // 2) % 2,
        "checker": ((x + phase) // 4 + (y + phase) // 4) % 2,
    }[pattern]
    image = np.asarray(colour, np.float64) * (0.55 + 0.45 * wave[..., None])
    image += rng.normal(0, 12, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def write_class_folders(root, counts: dict[str, int], extension: str = ".png", size: int = 32):
    """Writes `root/<class>/<class>_<i><extension>` images; returns root as str."""
    from PIL import Image

    for label, (name, count) in enumerate(counts.items()):
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for index in range(count):
            Image.fromarray(class_image(label, index, size)).save(
                os.path.join(root, name, f"{name}_{index:03d}{extension}")
            )
    return os.fspath(root)


def png_with_a_bad_stream(size=12):
    """A PNG whose chunks and checksums are all intact but whose compressed pixels are not: it
    passes the quick check, and only decoding finds out."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.full((size, size, 3), 99, np.uint8)).save(buffer, "PNG")
    data = buffer.getvalue()
    start = data.index(b"IDAT") - 4
    length = struct.unpack(">I", data[start : start + 4])[0]
    body = bytes(length)  # zeros: not a zlib stream
    chunk = struct.pack(">I", length) + b"IDAT" + body + struct.pack(">I", zlib.crc32(b"IDAT" + body))
    return data[:start] + chunk + data[start + 12 + length :]


def write_unreadable_class_folder(root) -> tuple[str, dict[str, str]]:
    """Writes `root/cats` and `root/dogs`, 8 noisy JPEGs each (cats red, dogs blue), plus the
    files users meet in real folders: a JPEG whose header is broken, a JPEG cut in half, and
    a text file named `.jpg`. Returns `(root, {kind: path of that bad file})`, the bad files
    in listing order."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, colour in (("cats", (200, 60, 40)), ("dogs", (40, 90, 210))):
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for index in range(8):
            pixels = np.clip(np.asarray(colour) + rng.normal(0, 20, (40, 48, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(os.path.join(root, name, f"{name}_{index}.jpg"), quality=90)
    with open(os.path.join(root, "cats", "cats_0.jpg"), "rb") as handle:
        jpeg = handle.read()
    bad = {
        "broken": os.path.join(root, "cats", "broken.jpg"),
        "not an image": os.path.join(root, "dogs", "notes.jpg"),
        "truncated": os.path.join(root, "dogs", "truncated.jpg"),
    }
    with open(bad["broken"], "wb") as handle:  # the JPEG signature, then zeros where markers were
        handle.write(jpeg[:3] + bytes(200) + jpeg[203:])
    with open(bad["not an image"], "w") as handle:
        handle.write("not an image")
    with open(bad["truncated"], "wb") as handle:  # headers intact, scan data cut half-way
        handle.write(jpeg[: len(jpeg) // 2])
    return os.fspath(root), bad
