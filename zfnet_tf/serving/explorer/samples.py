"""Sample images the page offers: scikit-image's photos and scikit-learn's digits, as PNGs.

They are sent at their own size: the page hands every image, uploaded or sample, to the
model's `decode_bytes` signature, which resizes and crops it the way the model's data
pipeline does, so a sample looks to the model as it does in `zfnet_tf.data`.
"""

from __future__ import annotations

import functools
import io

# One 8x8 scan of each digit from scikit-learn's digits: the first of each class.
DIGITS = tuple(str(d) for d in range(10))


@functools.lru_cache(maxsize=1)
def sample_list() -> tuple[dict, ...]:
    """`{"name", "label", "kind"}` of every sample, photos first."""
    # Read on first use: the server's start-up imports nothing of zfnet_tf.data.
    from zfnet_tf.data.samples import SAMPLE_PHOTOS

    photos = tuple({"name": name, "label": label, "kind": "photo"} for name, label in SAMPLE_PHOTOS.items())
    digits = tuple(
        {"name": f"digit{d}", "label": f"handwritten {d} (scikit-learn digits)", "kind": "digit"} for d in DIGITS
    )
    return photos + digits


def _png(pixels) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@functools.lru_cache(maxsize=None)
def sample_png(name: str) -> bytes:
    """The PNG bytes of sample `name`; KeyError for an unknown name."""
    from zfnet_tf.data.samples import SAMPLE_PHOTOS, sample_photo

    if name in SAMPLE_PHOTOS:
        return _png(sample_photo(name))
    if name.startswith("digit") and name[len("digit"):] in DIGITS:
        import numpy as np

        from zfnet_tf.data.sources.digits import digits_pixels

        # The pixels of the demo model's training data, as zfnet_tf.data reads them.
        images, labels, _ = digits_pixels()
        return _png(images[int(np.flatnonzero(labels == int(name[len("digit"):]))[0])])
    raise KeyError(name)
