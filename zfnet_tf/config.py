"""Network configurations: one frozen dataclass, named presets for the paper's variants.

Every variant the paper measures (Fig. 3, the AlexNet-style first layer of Fig. 6, the Table 3
ablations) and the small CPU models are values of `ZFNetConfig`, never copies of code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

NORMALIZATIONS = ("lcn", "lrn", None)
# Fig. 3 normalizes the pooled maps; AlexNet-style networks (imgclsmob's ZFNets) normalize
# the ReLU output and pool the normalized maps.
NORMALIZATION_POSITIONS = ("after_pool", "before_pool")
POOL_PADDINGS = ("same", "valid")

# ImageNet's mean RGB: subtracting it maps RGB 0-255 inputs to roughly [-128, 128], the range
# the paper's filter renormalization (RMS 0.1) was chosen for.
IMAGENET_MEAN_RGB = (123.68, 116.78, 103.94)
# torchvision's ImageNet statistics (mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225) of
# RGB in [0, 1]) in 0-255 units: `(x - mean) / std` on RGB 0-255 equals torchvision's
# `Normalize` after `ToTensor`'s division by 255.
TORCHVISION_MEAN_RGB = (0.485 * 255, 0.456 * 255, 0.406 * 255)
TORCHVISION_STD_RGB = (0.229 * 255, 0.224 * 255, 0.225 * 255)


@dataclass(frozen=True)
class ConvBlockConfig:
    """One convolutional layer of the network and what follows it.

    Attributes:
        layer: the paper's layer number (1-5); it names the Keras layers (`conv3`, `pool5`).
        filters: number of feature maps.
        kernel_size: square kernel side.
        strides: convolution stride.
        padding: zeros added on each side of the input before a "valid" convolution.
        pool: whether a 3x3 stride-2 max-pool with switches follows the ReLU.
        pool_padding: "same" or "valid" for that pool (Fig. 3 needs both: 110->55, 13->6).
        normalize: whether the model's contrast normalization follows the pool.
    """

    layer: int
    filters: int
    kernel_size: int
    strides: int = 1
    padding: int = 0
    pool: bool = False
    pool_padding: str = "valid"
    normalize: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.layer <= 5:
            raise ValueError(f"ConvBlockConfig.layer must be in 1..5, got {self.layer}")
        for name in ("filters", "kernel_size", "strides"):
            if getattr(self, name) < 1:
                raise ValueError(f"ConvBlockConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.padding < 0:
            raise ValueError(f"ConvBlockConfig.padding must be >= 0, got {self.padding}")
        if self.pool_padding not in POOL_PADDINGS:
            raise ValueError(
                f"ConvBlockConfig.pool_padding must be one of {POOL_PADDINGS}, "
                f"got {self.pool_padding!r}"
            )


def replace_fields(config, overrides: Mapping[str, Any]):
    """`dataclasses.replace` with a ValueError naming the fields a frozen config lacks."""
    unknown = set(overrides) - {f.name for f in dataclasses.fields(config)}
    if unknown:
        raise ValueError(f"unknown {type(config).__name__} field(s): {sorted(unknown)}")
    return dataclasses.replace(config, **overrides)


def _zfnet_blocks(widths: tuple[int, int, int, int, int] = (96, 256, 384, 384, 256)):
    return (
        ConvBlockConfig(1, widths[0], 7, 2, 1, pool=True, pool_padding="same", normalize=True),
        ConvBlockConfig(2, widths[1], 5, 2, 0, pool=True, pool_padding="same", normalize=True),
        ConvBlockConfig(3, widths[2], 3, 1, 1),
        ConvBlockConfig(4, widths[3], 3, 1, 1),
        ConvBlockConfig(5, widths[4], 3, 1, 1, pool=True, pool_padding="valid"),
    )


@dataclass(frozen=True)
class ZFNetConfig:
    """The whole network: convolutional blocks, fully connected layers, head and init.

    Attributes:
        conv_blocks: the convolutional layers in order (layers may be missing: Table 3).
        dense_units: widths of the fully connected layers fc6, fc7 (fewer entries remove them).
        num_classes: width of the softmax layer fc8.
        input_size: square input side in pixels; inputs are RGB in [0, 255].
        normalization: "lcn" (paper), "lrn" (AlexNet's local response normalization) or None.
        normalization_position: "after_pool" (Fig. 3: conv, ReLU, pool, normalization) or
            "before_pool" (conv, ReLU, normalization, pool: AlexNet and imgclsmob's ZFNets),
            for the blocks whose `normalize` is set.
        lcn_kernel_size, lcn_sigma: the Gaussian window of the contrast normalization.
        lrn_depth_radius, lrn_bias, lrn_alpha, lrn_beta: the response normalization
            `x / (bias + alpha * sum of x**2 over 2 * depth_radius + 1 maps) ** beta`; alpha
            multiplies the plain sum (PyTorch's and Caffe's alpha is divided by the size).
        dropout: rate of the dropout after fc6 and fc7.
        kernel_init_stddev: standard deviation of the normal weight init (paper: 1e-2);
            `kernel_initializer` other than "paper" replaces it by a Keras initializer.
        filter_rms_limit: conv filters whose RMS exceeds it are rescaled to it after every
            update (paper Sec. 3: 0.1); None disables the constraint.
        mean_rgb: subtracted from the input (RGB 0-255) inside the model.
        std_rgb: divides the input after the mean subtraction (1: the paper's raw range).
        resize_size: the evaluation transform: an image's shorter side is resized (bilinear)
            to it and the centre `input_size` square is the model's input, wherever images
            are prepared for this model (files, datasets, `classify_bytes`, `evaluate`'s
            centre and 10 crops). None keeps the paper presets' data handling: single images
            and dataset images are resized to `input_size` whole, and `evaluate` and training
            crop from the paper's 256-for-224 resize (`zfnet_tf.data.resize_size`).
    """

    conv_blocks: tuple[ConvBlockConfig, ...] = field(default_factory=_zfnet_blocks)
    dense_units: tuple[int, ...] = (4096, 4096)
    num_classes: int = 1000
    input_size: int = 224
    normalization: str | None = "lcn"
    normalization_position: str = "after_pool"
    lcn_kernel_size: int = 9
    lcn_sigma: float = 2.0
    lrn_depth_radius: int = 2
    lrn_bias: float = 2.0
    lrn_alpha: float = 1e-4
    lrn_beta: float = 0.75
    dropout: float = 0.5
    kernel_initializer: str = "paper"
    kernel_init_stddev: float = 1e-2
    filter_rms_limit: float | None = 0.1
    mean_rgb: tuple[float, float, float] = IMAGENET_MEAN_RGB
    std_rgb: tuple[float, float, float] = (1.0, 1.0, 1.0)
    resize_size: int | None = None

    def __post_init__(self) -> None:
        blocks = tuple(
            b if isinstance(b, ConvBlockConfig) else ConvBlockConfig(**b) for b in self.conv_blocks
        )
        object.__setattr__(self, "conv_blocks", blocks)
        object.__setattr__(self, "dense_units", tuple(int(u) for u in self.dense_units))
        object.__setattr__(self, "mean_rgb", tuple(float(m) for m in self.mean_rgb))
        object.__setattr__(self, "std_rgb", tuple(float(s) for s in self.std_rgb))
        layers = [b.layer for b in blocks]
        if not blocks or layers != sorted(set(layers)):
            raise ValueError(f"conv_blocks must be non-empty, in increasing layer order: {layers}")
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(
                f"normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}"
            )
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")
        if any(u < 1 for u in self.dense_units):
            raise ValueError(f"dense_units must be positive, got {self.dense_units}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.normalization_position not in NORMALIZATION_POSITIONS:
            raise ValueError(
                f"normalization_position must be one of {NORMALIZATION_POSITIONS}, "
                f"got {self.normalization_position!r}"
            )
        if self.lcn_kernel_size < 1 or self.lcn_kernel_size % 2 == 0:
            raise ValueError(f"lcn_kernel_size must be odd and >= 1, got {self.lcn_kernel_size}")
        if self.lrn_depth_radius < 0:
            raise ValueError(f"lrn_depth_radius must be >= 0, got {self.lrn_depth_radius}")
        if self.lrn_bias <= 0 or self.lrn_alpha < 0 or self.lrn_beta < 0:
            raise ValueError(
                "lrn_bias must be > 0 and lrn_alpha, lrn_beta >= 0, got "
                f"{self.lrn_bias}, {self.lrn_alpha}, {self.lrn_beta}"
            )
        if len(self.mean_rgb) != 3:
            raise ValueError(f"mean_rgb needs 3 values, got {self.mean_rgb}")
        if len(self.std_rgb) != 3 or min(self.std_rgb) <= 0:
            raise ValueError(f"std_rgb needs 3 positive values, got {self.std_rgb}")
        if self.resize_size is not None and self.resize_size < self.input_size:
            raise ValueError(
                f"resize_size must be None or >= input_size {self.input_size}, got {self.resize_size}"
            )
        self.feature_map_sizes()  # raises for an input too small for the network

    @property
    def conv_layers(self) -> tuple[int, ...]:
        """The paper's numbers of the convolutional layers present, e.g. (1, 2, 5)."""
        return tuple(b.layer for b in self.conv_blocks)

    @property
    def image_resize_size(self) -> int:
        """The side an image's shorter side is resized to before the centre `input_size` crop
        that makes it a model input (`resize_size`, else `input_size`: the whole image)."""
        return self.input_size if self.resize_size is None else self.resize_size

    def block(self, layer: int) -> ConvBlockConfig:
        for b in self.conv_blocks:
            if b.layer == layer:
                return b
        raise ValueError(f"layer {layer} is not in this network (its conv layers: {self.conv_layers})")

    def feature_map_sizes(self) -> dict[str, int]:
        """Spatial side of every named map, e.g. {"conv1": 110, "pool1": 55, ...}."""
        sizes: dict[str, int] = {}
        size = self.input_size
        for b in self.conv_blocks:
            size = (size + 2 * b.padding - b.kernel_size) // b.strides + 1
            if size < 1:
                raise ValueError(
                    f"input_size {self.input_size} is too small: conv{b.layer} would have no output"
                )
            sizes[f"conv{b.layer}"] = size
            if b.pool:
                size = -(-size // 2) if b.pool_padding == "same" else (size - 3) // 2 + 1
                if size < 1:
                    raise ValueError(
                        f"input_size {self.input_size} is too small: pool{b.layer} would have "
                        "no output"
                    )
                sizes[f"pool{b.layer}"] = size
        return sizes

    def replace(self, **overrides: Any) -> "ZFNetConfig":
        return replace_fields(self, overrides)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "ZFNetConfig":
        values = dict(values)
        values["conv_blocks"] = tuple(ConvBlockConfig(**b) for b in values.get("conv_blocks", ()))
        return cls(**values)


def _without_conv(*layers: int, widths=(96, 256, 384, 384, 256)):
    return tuple(b for b in _zfnet_blocks(widths) if b.layer not in layers)


PRESETS: dict[str, ZFNetConfig] = {
    # Fig. 3: 224 -> 110 -> 55 -> 26 -> 13 -> 13 -> 13 -> 6.
    "zfnet": ZFNetConfig(),
    # Fig. 6's comparison: AlexNet's 11x11 stride-4 first layer, one tower, ZFNet's other layers.
    "alexnet": ZFNetConfig(
        conv_blocks=(
            ConvBlockConfig(1, 96, 11, 4, 2, pool=True, pool_padding="valid", normalize=True),
            ConvBlockConfig(2, 256, 5, 1, 2, pool=True, pool_padding="valid", normalize=True),
            ConvBlockConfig(3, 384, 3, 1, 1),
            ConvBlockConfig(4, 384, 3, 1, 1),
            ConvBlockConfig(5, 256, 3, 1, 1, pool=True, pool_padding="valid"),
        ),
        normalization="lrn",
    ),
    # Table 3 ablations.
    "zfnet_no_fc7": ZFNetConfig(dense_units=(4096,)),
    "zfnet_no_fc6_fc7": ZFNetConfig(dense_units=()),
    "zfnet_no_conv3_conv4": ZFNetConfig(conv_blocks=_without_conv(3, 4)),
    "zfnet_no_conv3_conv4_fc6_fc7": ZFNetConfig(conv_blocks=_without_conv(3, 4), dense_units=()),
    "zfnet_fc2048": ZFNetConfig(dense_units=(2048, 2048)),
    "zfnet_fc8192": ZFNetConfig(dense_units=(8192, 8192)),
    "zfnet_conv512_1024_512": ZFNetConfig(conv_blocks=_zfnet_blocks((96, 256, 512, 1024, 512))),
    "zfnet_conv512_1024_512_fc8192": ZFNetConfig(
        conv_blocks=_zfnet_blocks((96, 256, 512, 1024, 512)), dense_units=(8192, 8192)
    ),
    # CPU-sized: Fig. 3's kernels and strides, widths / 4, 64x64 input: 64->30->15->6->3->1.
    # He init because the paper's 1e-2 init trains too slowly for a minutes-long CPU run.
    "tiny": ZFNetConfig(
        conv_blocks=_zfnet_blocks((24, 64, 96, 96, 64)),
        dense_units=(256, 256),
        num_classes=10,
        input_size=64,
        lcn_kernel_size=5,
        lcn_sigma=1.0,
        kernel_initializer="he_normal",
    ),
}


# imgclsmob's ImageNet-1k ZFNets (pytorchcv's `zfnet` and `zfnetb`; docs/pretrained.md): the geometry of
# Fig. 3 (and of Table 3's 512-1024-512 variant) with AlexNet-style response normalization before
# pools 1-2, PyTorch's `local_response_norm(size=5, alpha=1e-4, beta=0.75, k=2)` (its alpha is
# divided by the size: 2e-5 here), torchvision's input normalization and evaluation transform
# (shorter side 256, centre 224), and no filter renormalization (they were trained without it).
# Random weights as presets; `zfnet_tf.pretrained` loads the published ones.
IMGCLSMOB_FIELDS: dict[str, Any] = dict(
    normalization="lrn",
    normalization_position="before_pool",
    lrn_depth_radius=2,
    lrn_bias=2.0,
    lrn_alpha=2e-5,
    lrn_beta=0.75,
    mean_rgb=TORCHVISION_MEAN_RGB,
    std_rgb=TORCHVISION_STD_RGB,
    resize_size=256,
    filter_rms_limit=None,
)
PRESETS["zfnet_imgclsmob"] = PRESETS["zfnet"].replace(**IMGCLSMOB_FIELDS)
PRESETS["zfnetb_imgclsmob"] = PRESETS["zfnet_conv512_1024_512"].replace(**IMGCLSMOB_FIELDS)
# pytorchcv's names of the published networks -> the presets of their architectures.
PRETRAINED_PRESETS = {"zfnet": "zfnet_imgclsmob", "zfnetb": "zfnetb_imgclsmob"}


def pretrained_preset(name: str) -> str:
    """The preset of pytorchcv's network `name`, or a ValueError listing the known names."""
    if name not in PRETRAINED_PRESETS:
        raise ValueError(f"unknown pretrained model {name!r}; known: {', '.join(PRETRAINED_PRESETS)}")
    return PRETRAINED_PRESETS[name]


def named(table: Mapping[str, Any], name_or_value: Any, kind: str, overrides: Mapping[str, Any]):
    """`table[name]` (or a value of the table's type given as is), with fields replaced:
    how presets and recipes are looked up; an unknown name lists the known ones."""
    value_type = type(next(iter(table.values())))
    if isinstance(name_or_value, value_type):
        value = name_or_value
    elif name_or_value in table:
        value = table[name_or_value]
    else:
        raise ValueError(f"unknown {kind} {name_or_value!r}; {kind}s: {sorted(table)}")
    return replace_fields(value, overrides) if overrides else value


def get_config(preset: str | ZFNetConfig = "zfnet", **overrides: Any) -> ZFNetConfig:
    """A preset by name (or a config), with fields overridden, e.g. `get_config("tiny", input_size=96)`."""
    return named(PRESETS, preset, "preset", overrides)
