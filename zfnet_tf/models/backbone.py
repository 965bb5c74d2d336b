from __future__ import annotations

from typing import Any, Mapping

import keras

from zfnet_tf.config import ZFNetConfig
from zfnet_tf.constraints import FilterRMSNorm
from zfnet_tf.layers import LocalContrastNormalization, LocalResponseNormalization, MaxPoolWithSwitches


def kernel_initializer(config: ZFNetConfig) -> keras.initializers.Initializer:
    """The paper's N(0, 1e-2) init (Sec. 3), or a Keras initializer named by the config."""
    if config.kernel_initializer == "paper":
        return keras.initializers.RandomNormal(stddev=config.kernel_init_stddev)
    return keras.initializers.get(config.kernel_initializer)


def normalization_layer(config: ZFNetConfig, name: str) -> keras.layers.Layer | None:
    if config.normalization == "lcn":
        return LocalContrastNormalization(config.lcn_kernel_size, config.lcn_sigma, name=name)
    if config.normalization == "lrn":
        return LocalResponseNormalization(
            config.lrn_depth_radius, config.lrn_bias, config.lrn_alpha, config.lrn_beta, name=name
        )
    return None


@keras.saving.register_keras_serializable(package="zfnet_tf")
class ZFNetBackbone(keras.Model):
    """ZFNet's layers 1-7: images (RGB 0-255) to the fc7 feature vector.

    Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks" (arXiv 1311.2901),
    Fig. 3; every variant comes from a `ZFNetConfig`. The input transform (`(x - mean_rgb) /
    std_rgb`) runs inside the model so that training, export and serving all take raw 0-255
    pixels.

    Every intermediate has a stable layer name: `preprocess`, `conv{l}_pad`, `conv{l}` (ReLU
    output), `pool{l}`, `norm{l}` (after the pool, or before it with
    `normalization_position="before_pool"`), `flatten`, `fc6`, `fc7` (ReLU outputs, before
    dropout).
    `feature_names` lists those a given config has, and `feature_extractor` returns a model
    that outputs any of them. The pools run without switches (`return_switches=False`, so
    the forward pass compiles under XLA); the deconvnet never asks them for switches either:
    it finds each window's maximum again in the forward values it recorded
    (`zfnet_tf.deconv.rules.MaxPoolRule`).

    Args:
        config: a `ZFNetConfig` (or its dict form, as saved in a `.keras` file).
    """

    def __init__(self, config: ZFNetConfig | Mapping[str, Any] | None = None, **kwargs):
        if config is None:
            config = ZFNetConfig()
        elif not isinstance(config, ZFNetConfig):
            config = ZFNetConfig.from_dict(config)
        initializer = kernel_initializer(config)
        constraint = (
            FilterRMSNorm(config.filter_rms_limit) if config.filter_rms_limit is not None else None
        )

        images = keras.Input((config.input_size, config.input_size, 3), name="images")
        # One multiply-add per channel: (x - mean) / std == x * (1 / std) + (-mean / std).
        x = keras.layers.Rescaling(
            [1.0 / s for s in config.std_rgb],
            offset=[-m / s for m, s in zip(config.mean_rgb, config.std_rgb)],
            name="preprocess",
        )(images)
        names = []
        for block in config.conv_blocks:
            if block.padding:
                x = keras.layers.ZeroPadding2D(block.padding, name=f"conv{block.layer}_pad")(x)
            x = keras.layers.Conv2D(
                block.filters,
                block.kernel_size,
                strides=block.strides,
                padding="valid",
                activation="relu",
                kernel_initializer=initializer,
                bias_initializer="zeros",
                kernel_constraint=constraint,
                name=f"conv{block.layer}",
            )(x)
            names.append(f"conv{block.layer}")
            norm = normalization_layer(config, f"norm{block.layer}") if block.normalize else None
            stages = [norm] if norm is not None else []
            if block.pool:
                pool = MaxPoolWithSwitches(
                    3, 2, block.pool_padding, return_switches=False, name=f"pool{block.layer}"
                )
                before = config.normalization_position == "before_pool"
                stages = stages + [pool] if before else [pool] + stages
            for stage in stages:
                x = stage(x)
                names.append(stage.name)
        x = keras.layers.Flatten(name="flatten")(x)
        for index, units in enumerate(config.dense_units):
            layer_name = f"fc{6 + index}"
            x = keras.layers.Dense(
                units,
                activation="relu",
                kernel_initializer=initializer,
                bias_initializer="zeros",
                name=layer_name,
            )(x)
            names.append(layer_name)
            x = keras.layers.Dropout(config.dropout, name=f"{layer_name}_dropout")(x)

        super().__init__(inputs=images, outputs=x, **{"name": "zfnet_backbone", **kwargs})
        self.config = config
        self.feature_names = tuple(names)

    def top_map_name(self, layer: int) -> str:
        """The layer whose output is paper layer `layer`'s (1-5) top maps, the maps the
        deconvnet projects from: the pooled maps of a layer that pools (1, 2, 5 in Fig. 3),
        else the ReLU output."""
        if isinstance(layer, bool) or not isinstance(layer, int) or not 1 <= layer <= 5:
            raise ValueError(f"layer must be an int in 1..5, got {layer!r}")
        block = self.config.block(layer)
        return f"pool{layer}" if block.pool else f"conv{layer}"

    def feature_extractor(self, names: list[str] | tuple[str, ...] | None = None) -> keras.Model:
        """A model from images to a dict of the named intermediates (all of them by default),
        as `zfnet_tf.deconv.ModelReading.feature_model` reads any model's layers."""
        names = self.feature_names if names is None else tuple(names)
        unknown = [n for n in names if n not in self.feature_names]
        if unknown:
            raise ValueError(
                f"unknown feature name(s) {unknown}; this network has {list(self.feature_names)}"
            )
        from zfnet_tf.deconv.reading import ModelReading

        # The project's one layer reader: the backbone's own layers and variables, no copies.
        return ModelReading(self).feature_model(names)

    def get_config(self):
        return {"config": self.config.to_dict(), "name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
