"""The evaluation transform, and the paper's augmentation and evaluation crops (Zeiler &
Fergus, arXiv 1311.2901, Sec. 3).

Training: "Each RGB image was preprocessed by resizing the smallest dimension to 256, cropping
the center 256x256 region, ... then using 10 different sub-crops of size 224x224 (corners +
center with(out) horizontal flips)". For training the sub-crop is random; evaluation takes the
centre crop or averages the 10 fixed crops.

The crops take square images already resized to `resize_size(input_size)` (what
`load_data(..., image_size=resize_size(input_size))` yields), float32 RGB 0-255. Smaller
presets keep the paper's ratio 256 / 224, e.g. 64 -> 73.
"""

from __future__ import annotations

import tensorflow as tf

PAPER_RESIZE = 256
PAPER_CROP = 224
NUM_EVAL_CROPS = 10


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
    image = tf.convert_to_tensor(image)
    if image.dtype != tf.uint8:
        image = tf.cast(image, tf.float32)
    # uint8 goes into the resize as it is (its output is float32, the same numbers): a float
    # copy of a large image would cost 4 bytes a channel (0.8 GB for 8192 x 8192) before the
    # resize shrinks it.
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


def resize_size(input_size: int) -> int:
    """The side images are resized to before cropping `input_size`: 224 -> 256, 64 -> 73."""
    if input_size < 1:
        raise ValueError(f"input_size must be >= 1, got {input_size}")
    return max(input_size, int(round(input_size * PAPER_RESIZE / PAPER_CROP)))


def random_crop_and_flip(
    image: tf.Tensor, crop_size: int, flip: bool = True, seed: tf.Tensor | None = None
) -> tf.Tensor:
    """A random `crop_size` square of `image` [S, S, 3], mirrored left-right half the time.

    `seed` (int32 [2]) makes the crop and flip a pure function of it (stateless ops);
    without it they draw from TensorFlow's global random state.
    """
    channels = image.shape[-1] or 3
    if seed is None:
        crop = tf.image.random_crop(image, [crop_size, crop_size, channels])
        return tf.image.random_flip_left_right(crop) if flip else crop
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    crop = tf.image.stateless_random_crop(image, [crop_size, crop_size, channels], crop_seed)
    return tf.image.stateless_random_flip_left_right(crop, flip_seed) if flip else crop


def center_crop(image: tf.Tensor, crop_size: int) -> tf.Tensor:
    """The centre `crop_size` square of `image` [S, S, C] (or a batch [N, S, S, C])."""
    height, width = image.shape[-3], image.shape[-2]
    if height < crop_size or width < crop_size:
        raise ValueError(f"cannot crop {crop_size}x{crop_size} from a {height}x{width} image")
    top, left = (height - crop_size) // 2, (width - crop_size) // 2
    return image[..., top : top + crop_size, left : left + crop_size, :]


# Where `ten_crops` puts the centre crop (`center_crop`'s square).
TEN_CROPS_CENTRE = 4


def ten_crops(image: tf.Tensor, crop_size: int) -> tf.Tensor:
    """The paper's 10 evaluation crops of `image` [S, S, C]: `[10, crop, crop, C]`.

    Order: top-left, top-right, bottom-left, bottom-right, centre (`TEN_CROPS_CENTRE`), then
    the same five of the left-right mirrored image.
    """
    height, width = image.shape[-3], image.shape[-2]
    if height is None or width is None:
        raise ValueError("ten_crops needs a static image size")
    if height < crop_size or width < crop_size:
        raise ValueError(f"cannot crop {crop_size}x{crop_size} from a {height}x{width} image")
    bottom, right = height - crop_size, width - crop_size
    corners = [(0, 0), (0, right), (bottom, 0), (bottom, right), (bottom // 2, right // 2)]
    crops = [image[t : t + crop_size, l : l + crop_size, :] for t, l in corners]
    crops += [tf.image.flip_left_right(crop) for crop in crops]
    return tf.stack(crops)
