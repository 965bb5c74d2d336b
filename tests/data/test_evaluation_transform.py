"""The evaluation transform (`resize_to_square`: shorter side to `resize_size`, centre crop)
against PIL's bilinear resize and a NumPy crop, and every loader that prepares images for a
model following it."""


import numpy as np
import pytest
import skimage.data
import tensorflow as tf
from PIL import Image

import zfnet_tf
from zfnet_tf.data import (
    DataSource,
    evaluation_data,
    load_data,
    load_image_file,
    resize_to_square,
    sample_images,
)
from zfnet_tf.export.signatures import decode_image_bytes

# scikit-image's photos: square (512), 300x451, 400x600 and 427x640, whose resized long side
# is fractional (chelsea: 384.85 -> 384, not 385) with an odd crop margin (rocket: 383 - 224,
# a half rounded to even).
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def pil_reference(image: np.ndarray, size: int, resize: int, mode: str) -> np.ndarray:
    """torchvision's Resize(resize) then CenterCrop(size), on PIL as torchvision runs them."""
    height, width = image.shape[:2]
    short, long = min(height, width), max(height, width)
    new_long = int(resize * long / short)
    new_h, new_w = (resize, new_long) if height <= width else (new_long, resize)
    if mode == "uint8":
        resized = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.BILINEAR), np.float32)
    else:  # one 32-bit float image per channel: PIL's filter without its 8-bit rounding
        resized = np.stack(
            [np.asarray(Image.fromarray(image[..., c].astype(np.float32), "F").resize((new_w, new_h), Image.BILINEAR))
             for c in range(3)],
            axis=-1,
        )
    top, left = int(round((new_h - size) / 2)), int(round((new_w - size) / 2))
    return resized[top : top + size, left : left + size]


@pytest.mark.parametrize("size, resize", [(224, 256), (224, 224), (64, 73), (96, 300)])
@pytest.mark.parametrize("name", PHOTOS)
def test_matches_pil_bilinear_and_a_centre_crop(name, size, resize):
    photo = getattr(skimage.data, name)()[..., :3]
    ours = resize_to_square(photo, size, resize).numpy()
    assert ours.shape == (size, size, 3)
    # PIL in float arithmetic: the same filter, to float32 round-off (of 255).
    np.testing.assert_allclose(ours, pil_reference(photo, size, resize, "F"), atol=0.02)
    # PIL on 8-bit images (torchvision's path): within its rounding to integers.
    difference = np.abs(ours - pil_reference(photo, size, resize, "uint8"))
    assert difference.max() <= 1.01 and difference.mean() < 0.35


def test_upscaling_matches_pil():
    photo = skimage.data.chelsea()[::4, ::4]  # 75 x 113
    np.testing.assert_allclose(
        resize_to_square(photo, 200, 240).numpy(), pil_reference(photo, 200, 240, "F"), atol=0.02
    )


def test_a_resize_smaller_than_the_crop_is_refused():
    with pytest.raises(ValueError, match="resize_size must be >= the crop size 64, got 60"):
        resize_to_square(np.zeros((80, 80, 3), np.uint8), 64, 60)


def test_every_loader_uses_the_models_transform(tmp_path):
    """Files, folders, sample photos, in-graph bytes and evaluate's centre crop of a model whose
    config says resize 80 / crop 64 give the same pixels as `resize_to_square(..., 64, 80)`."""
    config = zfnet_tf.get_config("tiny", resize_size=80)
    size, resize = config.input_size, config.image_resize_size
    photo = skimage.data.coffee()  # 400 x 600
    expected = resize_to_square(photo, size, resize).numpy()
    folder = tmp_path / "photos" / "coffee"
    folder.mkdir(parents=True)
    Image.fromarray(photo).save(folder / "coffee.png")
    encoded = (folder / "coffee.png").read_bytes()

    np.testing.assert_array_equal(load_image_file(folder / "coffee.png", size, resize), expected)
    np.testing.assert_array_equal(sample_images(size, ("coffee",), resize_size=resize)[0][0], expected)
    photos = DataSource("folder", str(tmp_path / "photos"))
    from_folder = next(iter(load_data(photos, image_size=size, resize_size=resize).dataset))[0]
    np.testing.assert_allclose(from_folder.numpy(), expected, atol=1e-4)
    from_bytes = decode_image_bytes(tf.constant([encoded]), size, resize).numpy()[0]
    np.testing.assert_allclose(from_bytes, expected, atol=1e-4)
    batches, _ = evaluation_data(photos, size, 1, image_resize_size=config.resize_size)
    np.testing.assert_allclose(next(iter(batches))[0].numpy()[0], expected, atol=1e-3)


def test_default_is_the_whole_shorter_side():
    photo = skimage.data.chelsea()
    assert zfnet_tf.get_config("tiny").image_resize_size == 64
    np.testing.assert_array_equal(resize_to_square(photo, 64).numpy(), resize_to_square(photo, 64, 64).numpy())
