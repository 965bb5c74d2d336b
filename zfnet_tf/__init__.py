"""ZFNet (Zeiler & Fergus, arXiv 1311.2901) and its deconvnet for TensorFlow 2 / Keras 3.

The names below load on first use, so `import zfnet_tf.cli` (and `zfnet-tf --help`) does not
pay TensorFlow's start-up.
"""

import importlib
import sys
from typing import Any, Callable

__version__ = "0.1.0"


def _lazy_exports(
    package: str, exports: dict[str, str]
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """`(__all__, __getattr__, __dir__)` for `package` (this one and its sub-packages), whose
    public names are the keys of `exports`, each loaded from the module it maps to when first
    asked for (PEP 562). It lives here, not in a module of its own, so that a sub-package
    using it imports nothing beyond `zfnet_tf` (the server's imports are checked)."""

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return sorted(exports), __getattr__, __dir__


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

__all__, __getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS)
