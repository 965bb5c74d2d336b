"""The paper's analyses (arXiv 1311.2901): one class per method, one shape for all.

| class | paper | measures |
| --- | --- | --- |
| `Projections` | Figs. 1, 3 | each image's strongest map (or a chosen one) of each layer, projected to pixels |
| `Top9` | Fig. 2 | per feature map, the k strongest activations over a dataset, projected and cropped |
| `Occlusion` | Fig. 7 | feature activity and class probabilities as a grey square moves over an image |
| `Invariance` | Fig. 5 | feature distance and true-class probability under translation, scale, rotation |
| `Correspondence` | Table 1 | consistency of the feature change when the same part is masked |
| `FilterAnalysis` | Fig. 6 | first-layer filters: dead filters, frequency bands, aliasing; projections |
| `LayerFeatures` | Table 7 | softmax and linear-SVM accuracy on each layer's features |

Each is `Analysis(model, params)` with a frozen, checked params dataclass (`Top9Params`, ...;
its fields may also be given as keywords), and one entry point, `run(data)`, taking images,
`(images, labels)`, a `tf.data.Dataset` or a dataset name. It returns a result with
`to_json()` and `save(out_dir)` (figures and JSON, written atomically); its figures are drawn
by `zfnet_tf.analysis.plots` from the result alone. The transfer experiment
(`zfnet_tf.transfer.TransferExperiment`) has the same shape. Every analysis works on any model
the deconvnet supports: layers are ZFNet's numbers or any layer name.

    result = Top9(model, layer="block3_conv3", features=[0, 1]).run("digits")
    result.save("out/top9")
"""

from zfnet_tf.analysis.base import Analysis, Params, Result
from zfnet_tf.analysis.correspondence import (
    Correspondence,
    CorrespondenceParams,
    CorrespondenceResult,
    load_boxes,
    part_boxes,
)
from zfnet_tf.analysis.data import AnalysisData, analysis_data
from zfnet_tf.analysis.filters import (
    FilterAnalysis,
    FilterComparison,
    FilterParams,
    FilterResult,
    aliased_energy,
    band_energies,
    compare_filters,
)
from zfnet_tf.analysis.invariance import Invariance, InvarianceParams, InvarianceResult, default_sweeps
from zfnet_tf.analysis.layer_features import LayerFeatures, LayerFeaturesParams, LayerFeaturesResult
from zfnet_tf.analysis.occlusion import Occlusion, OcclusionParams, OcclusionResult
from zfnet_tf.analysis.projections import Projections, ProjectionsParams, ProjectionsResult
from zfnet_tf.analysis.top9 import Top9, Top9Params, Top9Result

__all__ = [
    "Analysis",
    "AnalysisData",
    "Correspondence",
    "CorrespondenceParams",
    "CorrespondenceResult",
    "FilterAnalysis",
    "FilterComparison",
    "FilterParams",
    "FilterResult",
    "Invariance",
    "InvarianceParams",
    "InvarianceResult",
    "LayerFeatures",
    "LayerFeaturesParams",
    "LayerFeaturesResult",
    "Occlusion",
    "OcclusionParams",
    "OcclusionResult",
    "Params",
    "Projections",
    "ProjectionsParams",
    "ProjectionsResult",
    "Result",
    "Top9",
    "Top9Params",
    "Top9Result",
    "aliased_energy",
    "analysis_data",
    "band_energies",
    "compare_filters",
    "default_sweeps",
    "load_boxes",
    "part_boxes",
]
