"""EfficientNet-Lite's architecture as frozen data, free of TensorFlow and PyTorch.

EfficientNet-Lite (Tan & Le, arXiv 1905.11946, and TensorFlow's `efficientnet/lite` models) is
EfficientNet-B0's list of mobile inverted bottleneck blocks (MBConv, MobileNetV2's block,
arXiv 1801.04381) without squeeze-and-excitation, with ReLU6 for swish, and with the stem (32
maps) and head (1280 maps) kept at B0's width. Both the Keras builder
(`zfnet_tf.models.efficientnet_lite`) and the PyTorch state-dict layout that the importer checks
before TensorFlow loads (`zfnet_tf.pytorch_weights`) read it from here, so the two cannot
disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from zfnet_tf.config import replace_fields


@dataclass(frozen=True)
class MBConvStage:
    """`repeats` MBConv blocks with one kernel size and output width; the first block of the
    stage has the stride (and takes the previous stage's width), the others stride 1.

    Attributes:
        repeats: blocks in the stage.
        kernel_size: the depthwise convolution's square kernel.
        strides: stride of the stage's first block.
        expand_ratio: the 1x1 expansion's factor (1: no expansion convolution).
        filters: output maps of each block.
    """

    repeats: int
    kernel_size: int
    strides: int
    expand_ratio: int
    filters: int

    def __post_init__(self) -> None:
        for name in ("repeats", "kernel_size", "strides", "expand_ratio", "filters"):
            if getattr(self, name) < 1:
                raise ValueError(f"MBConvStage.{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class MBConvBlock:
    """One block as built: `name` (`block{stage}{letter}`, keras.applications' EfficientNet
    names, e.g. `block2b`), its index among all blocks (PyTorch's `_blocks.N`), widths,
    kernel, stride and the input side it sees."""

    name: str
    index: int
    input_filters: int
    filters: int
    kernel_size: int
    strides: int
    expand_ratio: int
    input_size: int

    @property
    def expanded_filters(self) -> int:
        return self.input_filters * self.expand_ratio

    @property
    def residual(self) -> bool:
        """Whether the block adds its input (stride 1, same width: the identity skip)."""
        return self.strides == 1 and self.input_filters == self.filters

    @property
    def output_layer(self) -> str:
        """The Keras layer whose output is the block's output."""
        return f"{self.name}_add" if self.residual else f"{self.name}_project_bn"


def same_padding(size: int, kernel_size: int, strides: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding `(before, after)` of one side of `size`: the output has
    ceil(size / strides) positions, and an odd total puts the extra zero after (the static
    padding of the reference's `Conv2dStaticSamePadding`)."""
    out = math.ceil(size / strides)
    total = max((out - 1) * strides + kernel_size - size, 0)
    return total // 2, total - total // 2


# EfficientNet-B0's blocks (the reference's 'r1_k3_s11_e1_i32_o16', ... without '_se0.25').
LITE_STAGES = (
    MBConvStage(1, 3, 1, 1, 16),
    MBConvStage(2, 3, 2, 6, 24),
    MBConvStage(2, 5, 2, 6, 40),
    MBConvStage(3, 3, 2, 6, 80),
    MBConvStage(3, 5, 1, 6, 112),
    MBConvStage(4, 5, 2, 6, 192),
    MBConvStage(1, 3, 1, 6, 320),
)


@dataclass(frozen=True)
class EfficientNetLiteConfig:
    """EfficientNet-Lite as the reference builds it (PyPI `efficientnet-lite-pytorch`).

    Attributes:
        name: the model's name.
        stages: the MBConv stages (Lite0: B0's seven).
        stem_filters, head_filters: the 3x3/2 stem's and the 1x1 head's maps (fixed in Lite).
        input_size: square input side (224 for Lite0).
        resize_size: evaluation transform: the shorter side to this, then the centre
            `input_size` square (256 for 224: the 0.875 crop of TF's EfficientNet evaluation).
        num_classes: width of the classifier (ImageNet: 1000).
        dropout_rate: dropout before the classifier.
        drop_connect_rate: stochastic depth of the residual blocks in training, growing
            linearly with the block's index from 0 (identity at inference).
        batch_norm_epsilon, batch_norm_momentum: TensorFlow's BN constants (1e-3, 0.99).
        input_offset, input_scale: the input normalization `(x - offset) / scale` on RGB 0-255
            (TensorFlow's EfficientNet-Lite: 127, 128).
        max_activation: the cap of the ReLU (6: ReLU6, for quantization).
    """

    name: str = "efficientnet_lite0"
    stages: tuple[MBConvStage, ...] = LITE_STAGES
    stem_filters: int = 32
    head_filters: int = 1280
    input_size: int = 224
    resize_size: int = 256
    num_classes: int = 1000
    dropout_rate: float = 0.2
    drop_connect_rate: float = 0.2
    batch_norm_epsilon: float = 1e-3
    batch_norm_momentum: float = 0.99
    input_offset: float = 127.0
    input_scale: float = 128.0
    max_activation: float = 6.0

    def __post_init__(self) -> None:
        for name in ("stem_filters", "head_filters", "input_size", "num_classes"):
            if getattr(self, name) < 1:
                raise ValueError(f"EfficientNetLiteConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not self.stages:
            raise ValueError("EfficientNetLiteConfig.stages must not be empty")
        if self.resize_size < self.input_size:
            raise ValueError(
                f"EfficientNetLiteConfig.resize_size ({self.resize_size}) must be >= input_size "
                f"({self.input_size})"
            )
        for name in ("dropout_rate", "drop_connect_rate"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"EfficientNetLiteConfig.{name} must be in [0, 1), got {getattr(self, name)}")
        if self.input_scale <= 0 or self.max_activation <= 0 or self.batch_norm_epsilon <= 0:
            raise ValueError("EfficientNetLiteConfig.input_scale, max_activation and batch_norm_epsilon must be > 0")

    def replace(self, **overrides) -> "EfficientNetLiteConfig":
        return replace_fields(self, overrides)

    @property
    def stem_output_size(self) -> int:
        return math.ceil(self.input_size / 2)

    def blocks(self) -> list[MBConvBlock]:
        """Every block in order, with its name, widths, stride and input side."""
        blocks, width, size = [], self.stem_filters, self.stem_output_size
        for stage_number, stage in enumerate(self.stages, start=1):
            for repeat in range(stage.repeats):
                strides = stage.strides if repeat == 0 else 1
                blocks.append(MBConvBlock(
                    name=f"block{stage_number}{chr(ord('a') + repeat)}",
                    index=len(blocks),
                    input_filters=width,
                    filters=stage.filters,
                    kernel_size=stage.kernel_size,
                    strides=strides,
                    expand_ratio=stage.expand_ratio,
                    input_size=size,
                ))
                width, size = stage.filters, math.ceil(size / strides)
        return blocks

    def block_outputs(self) -> dict[str, str]:
        """`{block name: the Keras layer of its output}`, in order."""
        return {block.name: block.output_layer for block in self.blocks()}


EFFICIENTNET_LITE0 = EfficientNetLiteConfig()
