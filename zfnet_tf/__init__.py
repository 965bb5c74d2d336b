"""ZFNet (Zeiler & Fergus, arXiv 1311.2901) and its deconvnet for TensorFlow 2 / Keras 3.

The names below load on first use, so `import zfnet_tf.cli` (and `zfnet-tf --help`) does not
pay TensorFlow's start-up.
"""

from zfnet_tf.lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "PRESETS": "zfnet_tf.config",
    "ConvBlockConfig": "zfnet_tf.config",
    "ZFNetConfig": "zfnet_tf.config",
    "get_config": "zfnet_tf.config",
    "Deconvnet": "zfnet_tf.deconv",
    "Projection": "zfnet_tf.deconv",
    "receptive_field": "zfnet_tf.deconv",
    "ImageClassifier": "zfnet_tf.models",
    "ZFNetBackbone": "zfnet_tf.models",
    "ZFNetImageClassifier": "zfnet_tf.models",
    "build_model": "zfnet_tf.models",
    "get_backbone": "zfnet_tf.models",
    "keras_application": "zfnet_tf.models",
    "load_model": "zfnet_tf.models",
    "pretrained": "zfnet_tf.models.pretrained",
    "save_model": "zfnet_tf.models",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
