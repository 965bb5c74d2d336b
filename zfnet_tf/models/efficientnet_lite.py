"""EfficientNet-Lite as a Keras functional classifier that takes RGB 0-255 pixels.

Built layer by layer as the reference (PyPI `efficientnet-lite-pytorch`, a port of TensorFlow's
EfficientNet-Lite) computes it, from `zfnet_tf.efficientnet_config`:

- `preprocess`: `Rescaling` by 1/128, offset -127/128: TensorFlow's Lite input normalization
  (x - 127) / 128, inside the model like every zfnet-tf model's (inputs are RGB 0-255).
- `stem_pad`, `stem_conv` (3x3/2, no bias), `stem_bn`, `stem_relu` (ReLU6).
- per block (`block1a` ... `block7a`, keras.applications' EfficientNet names): `_expand_conv`,
  `_expand_bn`, `_expand_relu` (when the expansion ratio is not 1), `_dwconv_pad` (stride 2),
  `_dwconv` (depthwise), `_bn`, `_relu`, `_project_conv`, `_project_bn`, and for the identity
  skip `_drop` (stochastic depth: identity at inference) and `_add`.
- `head_conv` (1x1 to 1280), `head_bn`, `head_relu`, `avg_pool`, `dropout` (0.2),
  `predictions` (logits, float32).

TensorFlow's "SAME" padding of a strided convolution on an even side is asymmetric (0 before, 1
after for 3x3/2), which the reference writes as static zero padding: here explicit
`ZeroPadding2D` layers and "valid" convolutions, so that every layer's geometry is visible to the
deconvnet's graph walk; stride-1 convolutions pad symmetrically, which Keras' "same" is. Batch
normalization keeps TensorFlow's epsilon 1e-3 (PyTorch's default is 1e-5). All ReLUs are
`ReLU(max_value=6)`.
"""

from __future__ import annotations

import keras

from zfnet_tf.efficientnet_config import EFFICIENTNET_LITE0, EfficientNetLiteConfig, MBConvBlock, same_padding
from zfnet_tf.models.classifier import ImageClassifier


def efficientnet_lite(
    config: EfficientNetLiteConfig = EFFICIENTNET_LITE0,
    class_names: list[str] | None = None,
) -> ImageClassifier:
    """EfficientNet-Lite of `config` (default Lite0, 1000 classes) with freshly initialized
    weights: RGB 0-255 images `[N, S, S, 3]` in, logits out; `zfnet_tf.pretrained(
    "efficientnet_lite0")` loads the published ImageNet weights into it."""
    if class_names is not None and len(class_names) != config.num_classes:
        raise ValueError(f"class_names has {len(class_names)} names for {config.num_classes} classes")
    images = keras.Input((config.input_size, config.input_size, 3), name="images")
    x = keras.layers.Rescaling(1.0 / config.input_scale, offset=-config.input_offset / config.input_scale,
                               name="preprocess")(images)
    x = _conv_bn_relu(x, config, "stem", config.stem_filters, 3, 2, config.input_size)
    blocks = config.blocks()
    for block in blocks:
        x = _mbconv(x, config, block, config.drop_connect_rate * block.index / len(blocks))
    x = _conv_bn_relu(x, config, "head", config.head_filters, 1, 1, None)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = keras.layers.Dropout(config.dropout_rate, name="dropout")(x)
    logits = keras.layers.Dense(config.num_classes, dtype="float32", name="predictions")(x)
    return ImageClassifier(images, logits, name=config.name, class_names=class_names,
                           resize_size=config.resize_size)


def _batch_norm(config: EfficientNetLiteConfig, name: str) -> keras.layers.BatchNormalization:
    return keras.layers.BatchNormalization(
        epsilon=config.batch_norm_epsilon, momentum=config.batch_norm_momentum, name=name
    )


def _relu(config: EfficientNetLiteConfig, name: str) -> keras.layers.ReLU:
    return keras.layers.ReLU(max_value=config.max_activation, name=name)


def _padded(x, size: int | None, kernel_size: int, strides: int, name: str):
    """`(x, padding)`: `x` zero-padded as TensorFlow's "SAME" pads it when that is asymmetric
    (a strided convolution), else `x` and Keras' "same"."""
    if strides == 1 or size is None:
        return x, "same"
    pads = same_padding(size, kernel_size, strides)
    if pads == (0, 0):
        return x, "valid"
    return keras.layers.ZeroPadding2D((pads, pads), name=name)(x), "valid"


def _conv_bn_relu(x, config, prefix: str, filters: int, kernel_size: int, strides: int, size: int | None):
    x, padding = _padded(x, size, kernel_size, strides, f"{prefix}_pad")
    x = keras.layers.Conv2D(filters, kernel_size, strides, padding=padding, use_bias=False,
                            name=f"{prefix}_conv")(x)
    return _relu(config, f"{prefix}_relu")(_batch_norm(config, f"{prefix}_bn")(x))


def _mbconv(inputs, config: EfficientNetLiteConfig, block: MBConvBlock, drop_rate: float):
    """MobileNetV2's inverted residual block as EfficientNet-Lite has it (no SE gate)."""
    name, x = block.name, inputs
    if block.expand_ratio != 1:
        x = keras.layers.Conv2D(block.expanded_filters, 1, use_bias=False, name=f"{name}_expand_conv")(x)
        x = _relu(config, f"{name}_expand_relu")(_batch_norm(config, f"{name}_expand_bn")(x))
    x, padding = _padded(x, block.input_size, block.kernel_size, block.strides, f"{name}_dwconv_pad")
    x = keras.layers.DepthwiseConv2D(block.kernel_size, block.strides, padding=padding, use_bias=False,
                                     name=f"{name}_dwconv")(x)
    x = _relu(config, f"{name}_relu")(_batch_norm(config, f"{name}_bn")(x))
    x = keras.layers.Conv2D(block.filters, 1, use_bias=False, name=f"{name}_project_conv")(x)
    x = _batch_norm(config, f"{name}_project_bn")(x)
    if block.residual:
        if drop_rate > 0:
            # Drop connect drops whole examples' residual branches (noise shared over H, W, C).
            x = keras.layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}_drop")(x)
        x = keras.layers.Add(name=f"{name}_add")([x, inputs])
    return x


__all__ = ["efficientnet_lite"]
