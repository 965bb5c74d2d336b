"""The main job on embedded data, with no network: what `make demo` runs.

Trains the `tiny` preset on scikit-learn's handwritten digits (the "demo" recipe), then shows
what it learned with the deconvnet: projections of layers 1-5 for a few test digits, the
paper's Fig. 4 feature evolution over the run, its Fig. 2 top-9 and Fig. 7 occlusion figures;
and exports a SavedModel that serves classes and projections, with a ready REST request.
"""

from __future__ import annotations

import json
import os
import time

import keras
import numpy as np
from PIL import Image

from zfnet_tf.analysis import AnalysisData, Occlusion, Top9, analysis_data
from zfnet_tf.data import DataSource
from zfnet_tf.deconv.figures import write_layer_projections
from zfnet_tf.files import write_json
from zfnet_tf.export import export_model
from zfnet_tf.models import load_model
from zfnet_tf.serving.client import write_predict_request
from zfnet_tf.training import train
from zfnet_tf.training.evaluation import evaluate_model
from zfnet_tf.visualization import image_to_rgb

DEMO_PRESET = "tiny"
DEMO_DATASET = "digits"
DEMO_RECIPE = "demo"
NUM_PROJECTED_IMAGES = 6
DEMO_EXPORT_NAME = "demo"
TOP9_LAYERS = (2, 5)
TOP9_FEATURES = tuple(range(16))
OCCLUSION_IMAGES = 3


def run_demo(
    out_dir: str = "demo_output",
    seed: int = 0,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    jit_compile: bool = True,
    export_base: str | None = None,
) -> dict[str, str]:
    """Trains, evaluates, visualizes and exports; returns the paths written, by name.

    Keys: "model" (`<out>/model/model.keras`, with class names), "projections" (layers 1-5 of
    test digits), "feature_evolution" (Fig. 4), "top9_layer2", "top9_layer5" (Fig. 2),
    "occlusion" (Fig. 7), "metrics" (test accuracy, wall time), "history" (per-epoch CSV),
    "tensorboard" (log dir), "saved_model" (the new version under `export_base`, default
    `<out>/saved_models/demo`), "digit_png" (a test digit as a file, for the client),
    "project_request" (a REST body asking that SavedModel for a layer-5 projection of it) and
    "report" (`<out>/report/index.html`: every analysis on one page, `write_report`).
    Running it again with the same `out_dir` resumes (or reuses) the training run and exports
    the next version. `epochs` / `steps_per_epoch` shorten it (tests).
    """
    start = time.perf_counter()
    model_dir = os.path.join(out_dir, "model")
    result = train(
        model_dir,
        preset=DEMO_PRESET,
        dataset=DEMO_DATASET,
        recipe=DEMO_RECIPE,
        strategy="one_device",
        jit_compile=jit_compile,
        seed=seed,
        steps_per_epoch=steps_per_epoch,
        verbose=2,
        epochs=epochs,
    )
    trained_seconds = time.perf_counter() - start
    model = load_model(result.model_path)
    (center,) = evaluate_model(model, DEMO_DATASET, crops=("center",), batch_size=128).results

    test = analysis_data(DataSource(DEMO_DATASET, split="test"), model)
    images, labels = test.take(NUM_PROJECTED_IMAGES).arrays()
    names = [f"digit {test.class_names[label]}" for label in labels]
    projections = write_layer_projections(
        model, images, names, os.path.join(out_dir, "projections")
    )
    analyses = run_analyses(model, test, os.path.join(out_dir, "analysis"))
    export_base = export_base or os.path.join(out_dir, "saved_models", DEMO_EXPORT_NAME)
    saved_model = export_model(model, export_base)
    digit_png = os.path.join(out_dir, "digit.png")
    Image.fromarray(image_to_rgb(images[0])).save(digit_png)
    project_request = write_predict_request(
        os.path.join(out_dir, "project_layer5_request.json"),
        "project_layer5",
        {"images": images[:1], "feature": np.array([-1], np.int32)},
    )
    metrics = {
        "test_accuracy": 1.0 - center.top1_error,
        "test_examples": center.num_examples,
        "epochs": result.epochs,
        "resumed_from_epoch": result.initial_epoch,
        "train_seconds": round(trained_seconds, 1),
        "total_seconds": round(time.perf_counter() - start, 1),
        "final_train_accuracy": float(result.history["accuracy"][-1]) if result.history else float("nan"),
    }
    metrics_path = write_json(os.path.join(out_dir, "metrics.json"), metrics)
    report = write_report(model, os.path.join(out_dir, "report"))
    return {
        "model": result.model_path,
        "projections": projections["figure"],
        "feature_evolution": result.feature_evolution,
        "metrics": metrics_path,
        "history": os.path.join(model_dir, "history.csv"),
        "tensorboard": result.log_dir,
        **analyses,
        "saved_model": saved_model,
        "digit_png": digit_png,
        "project_request": project_request,
        "report": report,
    }


def run_analyses(model: keras.Model, test: AnalysisData, out_dir: str) -> dict[str, str]:
    """The demo's analyses of the trained `model` on the `test` digits; returns their figures.

    `<out_dir>/top9/top9_layer{2,5}.png|json` (Fig. 2, maps 0-15) and
    `<out_dir>/occlusion/occlusion.png|json` (Fig. 7: the first three digits with their labels,
    a square of a third of the input side, so that even a small model's answer visibly moves).
    """
    figures = {}
    for layer in TOP9_LAYERS:
        top9 = Top9(model, layer=layer, features=TOP9_FEATURES, progress=False).run(test)
        figures[top9.stem] = _figure(top9.save(os.path.join(out_dir, "top9")))
    size = model.config.input_size
    occlusion = Occlusion(model, patch_size=max(1, size // 3), stride=max(1, size // 16))
    written = occlusion.run(test.take(OCCLUSION_IMAGES)).save(os.path.join(out_dir, "occlusion"))
    figures["occlusion"] = _figure(written)
    return figures


def _figure(record: dict) -> str:
    return next(path for path in record["files"] if path.endswith(".png"))


def read_metrics(paths: dict[str, str]) -> dict:
    with open(paths["metrics"]) as handle:
        return json.load(handle)


# -- every analysis on one page (zfnet_tf.analysis.report; the helper "voc-report" adds this) --


def write_report(model: keras.Model, out_dir: str, data=None, model_name: str | None = None) -> str:
    """`<out_dir>/index.html` and `report.json`: the model's filters, top-9 (ZFNet's layers 2
    and 5; another network's default layers), occlusion and invariance of three images and, for
    labelled data, Table 7's per-layer classifiers, on one static page
    (`zfnet_tf.analysis.report`); returns the page's path. `data` defaults to the digits' test
    split (the demo model's), `model_name` to the demo's."""
    from zfnet_tf.analysis.report import Report, ReportParams
    from zfnet_tf.models import zfnet_backbone

    layers = TOP9_LAYERS if zfnet_backbone(model) is not None else None
    params = ReportParams(images=OCCLUSION_IMAGES, top9_layers=layers, top9_features=len(TOP9_FEATURES))
    name = model_name or f"demo: {DEMO_PRESET} preset trained on {DEMO_DATASET}"
    data = DataSource(DEMO_DATASET, split="test") if data is None else data
    Report(model, params, model_name=name).run(data).save(out_dir)
    return os.path.join(out_dir, "index.html")


__all__ = ["read_metrics", "run_analyses", "run_demo", "write_report"]
