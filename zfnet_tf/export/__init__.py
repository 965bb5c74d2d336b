"""SavedModel export for TF Serving: classification, deconvnet projections and features.

`export_model(model, "saved_models/NAME")` writes, verifies and publishes the next version;
`build_export_archive(model)` is the `keras.export.ExportArchive` behind it. Names load on
first use, so the fresh-process check (`zfnet_tf.export.check`) and the server's layout
helpers (`zfnet_tf.export.layout`) import no Keras model code.
"""

from zfnet_tf.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "zfnet_tf.export.layout": ("CLASS_NAMES_FILE", "list_versions", "next_version"),
        "zfnet_tf.export.exporter": ("ExportVerificationError", "export_model"),
        "zfnet_tf.export.signatures": (
            "class_names_of", "build_export_archive", "feature_output_names", "projectable_layers",
            "ProjectableLayer", "signature_names",
        ),
    },
)
