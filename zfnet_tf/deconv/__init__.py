"""The deconvnet (paper Sec. 2.1) for any supported Keras model, and receptive fields."""

from zfnet_tf.deconv.deconvnet import Deconvnet, Projection, shared_deconvnet
from zfnet_tf.deconv.graph import neutral_color
from zfnet_tf.deconv.reading import ModelReading, layer_key, receptive_field
from zfnet_tf.deconv.receptive_field import ReceptiveField
from zfnet_tf.deconv.rules import RULES, SUPPORTED_LAYERS, register_exact

__all__ = [
    "Deconvnet",
    "ModelReading",
    "Projection",
    "RULES",
    "ReceptiveField",
    "SUPPORTED_LAYERS",
    "layer_key",
    "neutral_color",
    "receptive_field",
    "register_exact",
    "shared_deconvnet",
]
