"""SavedModel export for TF Serving: classification, deconvnet projections and features.

`export_model(model, "saved_models/NAME")` writes, verifies and publishes the next version;
`build_export_archive(model)` is the `keras.export.ExportArchive` behind it. Names load on
first use, so the fresh-process check (`zfnet_tf.export.check`) and the server's layout
helpers (`zfnet_tf.export.layout`) import no Keras model code.
"""

from zfnet_tf.lazy import lazy_exports

_EXPORTS = {
    "CLASS_NAMES_FILE": "zfnet_tf.export.layout",
    "ExportVerificationError": "zfnet_tf.export.exporter",
    "class_names_of": "zfnet_tf.export.signatures",
    "export_model": "zfnet_tf.export.exporter",
    "build_export_archive": "zfnet_tf.export.signatures",
    "feature_output_names": "zfnet_tf.export.signatures",
    "projectable_layers": "zfnet_tf.export.signatures",
    "ProjectableLayer": "zfnet_tf.export.signatures",
    "signature_names": "zfnet_tf.export.signatures",
    "list_versions": "zfnet_tf.export.layout",
    "next_version": "zfnet_tf.export.layout",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
