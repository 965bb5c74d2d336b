"""Serving: a server with TF Serving's REST and gRPC APIs, and a client for either server.

The server (`zfnet_tf.serving.server`) reads SavedModels with `tf.saved_model.load` and
imports none of the model, deconvnet or training code. Names load on first use.
"""

from zfnet_tf.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "zfnet_tf.serving.server": ("ModelServer",),
        "zfnet_tf.serving.client": ("ServingClient",),
        "zfnet_tf.serving.errors": ("ServingError",),
        "zfnet_tf.serving.limits": ("ServingLimits",),
    },
)
