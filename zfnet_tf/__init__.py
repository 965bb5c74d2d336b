"""ZFNet (Zeiler & Fergus, arXiv 1311.2901) and its deconvnet for TensorFlow 2 / Keras 3.

The names below load on first use, so `import zfnet_tf.cli` (and `zfnet-tf --help`) does not
pay TensorFlow's start-up.
"""

from zfnet_tf.lazy import lazy_exports

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "zfnet_tf.config": ("PRESETS", "ConvBlockConfig", "ZFNetConfig", "get_config"),
        "zfnet_tf.deconv": ("Deconvnet", "Projection", "receptive_field"),
        "zfnet_tf.models": (
            "ImageClassifier", "ZFNetBackbone", "ZFNetImageClassifier", "build_model",
            "get_backbone", "keras_application", "load_model", "save_model",
        ),
        "zfnet_tf.models.pretrained": ("pretrained",),
    },
)
