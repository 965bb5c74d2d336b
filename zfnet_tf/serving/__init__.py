"""Serving: a server with TF Serving's REST and gRPC APIs, and a client for either server.

The server (`zfnet_tf.serving.server`) reads SavedModels with `tf.saved_model.load` and
imports none of the model, deconvnet or training code. Names load on first use.
"""

from zfnet_tf.lazy import lazy_exports

_EXPORTS = {
    "ModelServer": "zfnet_tf.serving.server",
    "ServingClient": "zfnet_tf.serving.client",
    "ServingError": "zfnet_tf.serving.errors",
    "ServingLimits": "zfnet_tf.serving.limits",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
