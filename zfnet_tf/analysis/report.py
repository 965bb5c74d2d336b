"""Every analysis of one model on one page: `Report(model, params).run(data).save(out_dir)`.

The report runs the existing analyses, each as it runs alone (`Analysis(model, params).run(data)`
then `result.save(out_dir/<section>)`), and writes beside them:

- `index.html`: one static page, readable from disk without a server or a network: every
  figure by a relative path, styles inline, no script and no remote asset. A section per
  analysis with its figures and its numbers as tables, the model's summary and the data's
  skipped files.
- `report.json`: every number: per section, exactly the JSON the analysis itself wrote.

The sections: first-layer filters (Fig. 6), the top-9 activations of each projected layer
(Fig. 2), occlusion (Fig. 7) and invariance (Fig. 5) on a few images, the correspondence of
Table 1 when part boxes are given, and the per-layer linear classifiers of Table 7 when the data
has labels and a train/test split.
"""

from __future__ import annotations

import html
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import keras
import numpy as np

from zfnet_tf.analysis.base import Params, Result, check_int, jsonable, layer_tuple
from zfnet_tf.analysis.data import AnalysisData, Data, analysis_data
from zfnet_tf.data import DataSource
from zfnet_tf.files import write_json, write_text

# (key, title, what the paper calls it), in page order.
SECTIONS = (
    ("filters", "First-layer filters", "Fig. 6"),
    ("top9", "Top-9 activations, projected", "Fig. 2"),
    ("occlusion", "Occlusion sensitivity", "Fig. 7"),
    ("invariance", "Invariance to translation, scale, rotation", "Fig. 5"),
    ("correspondence", "Correspondence of object parts", "Table 1"),
    ("layer_features", "Linear classifiers on each layer's features", "Table 7"),
)
# Tables show at most this many rows of a list (the rest is in report.json).
TABLE_ROWS = 12
INLINE_VALUES = 24


@dataclass(frozen=True)
class ReportParams(Params):
    """What `Report` runs.

    Attributes:
        images: images of the data for occlusion and invariance (each is swept, so a few).
        top9_layers: layers whose top-9 are projected (default: every layer the deconvnet
            projects by default, ZFNet's 1-5 or each conv block's output).
        top9_features: the first this many maps of each such layer are projected and drawn.
        scan_limit: examples of the data scanned for the top-9 and the filters' projections.
        train_limit, test_limit: examples of each split for the per-layer classifiers.
        occlusion_patch_size: the occluding square's side (default: the occlusion's own,
            a quarter of the input side).
        batch_size: images per forward batch.
        progress: print a line as each analysis starts.
    """

    images: int = 3
    top9_layers: tuple[int | str, ...] | None = None
    top9_features: int = 8
    scan_limit: int | None = 500
    train_limit: int | None = 1000
    test_limit: int | None = 500
    occlusion_patch_size: int | None = None
    batch_size: int = 64
    progress: bool = True

    def check(self) -> None:
        check_int("images", self.images, 1)
        layer_tuple(self, "top9_layers")
        check_int("top9_features", self.top9_features, 1)
        for name in ("scan_limit", "train_limit", "test_limit"):
            check_int(name, getattr(self, name), 1, optional=True)
        check_int("occlusion_patch_size", self.occlusion_patch_size, 1, optional=True)
        check_int("batch_size", self.batch_size, 1)


@dataclass
class Section:
    """One analysis on the page: its results (several for the top-9, one a layer)."""

    key: str
    title: str
    paper: str
    results: dict[str, Result]
    note: str = ""


@dataclass
class ReportResult:
    """What `Report.run` produced: the sections' results and what the page needs besides."""

    model_name: str
    model_summary: str
    model_facts: dict
    data: dict
    sections: list[Section]
    params: ReportParams
    skipped_sections: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        """Every number: per section, per result, the analysis' own `to_json()`."""
        return jsonable({
            "report": {
                "model": self.model_name,
                "model_facts": self.model_facts,
                "params": self.params.to_json(),
                "data": self.data,
                "not_run": self.skipped_sections,
                "seconds": self.seconds,
            },
            "sections": {s.key: {name: r.to_json() for name, r in s.results.items()} for s in self.sections},
        })

    def save(self, out_dir: str | os.PathLike) -> dict:
        """Writes each analysis into `out_dir/<section>/` (its figures and JSON), then
        `report.json` (each analysis' JSON as it wrote it, with its files relative to
        `out_dir`) and `index.html`; returns the report's JSON."""
        out_dir = os.fspath(out_dir)
        record = {"report": self.to_json()["report"], "sections": {}}
        for section in self.sections:
            folder = os.path.join(out_dir, section.key)
            written = {}
            for name, result in section.results.items():
                saved = result.save(folder)
                saved["files"] = [os.path.relpath(path, out_dir).replace(os.sep, "/") for path in saved["files"]]
                written[name] = saved
            record["sections"][section.key] = written
        record["files"] = ["report.json", "index.html"]
        write_json(os.path.join(out_dir, "report.json"), record, indent=1)
        write_text(os.path.join(out_dir, "index.html"), render_page(self, record))
        return record


class Report:
    """Runs the paper's analyses of one model on one data source, for one page.

    Args:
        model: any model the deconvnet supports (a ZFNet, a keras.applications network, ...).
        params: a `ReportParams` (or its fields as keywords).
        model_name: how the page names the model (e.g. its file).
        say: where progress lines go (default `print`); only with `params.progress`.
    """

    def __init__(self, model: keras.Model, params: ReportParams | None = None, model_name: str | None = None,
                 say: Callable[[str], None] = print, **overrides: Any):
        if params is None:
            params = ReportParams(**overrides)
        elif overrides:
            params = params.replace(**overrides)
        self.model = model
        self.params = params
        self.model_name = model_name or model.name
        self._say = say

    def run(self, data: Data, boxes: AnalysisData | None = None,
            test_data: Data | None = None) -> ReportResult:
        """Runs every analysis that the data allows.

        Args:
            data: the images (`analysis_data`): a dataset name or `DataSource` (its split is
                scanned; with labels, its train and test splits also feed Table 7), arrays or
                a `tf.data.Dataset`.
            boxes: images with their part boxes for the correspondence (`part_boxes`).
            test_data: labelled test images for Table 7 when `data` is labelled arrays.

        Every analysis reads the model through one `Deconvnet` (`shared_deconvnet`, held here
        for the whole run): what one traced (layer 5's projection for its top-9) serves the
        next (occlusion's projection).
        """
        from zfnet_tf.analysis import (
            Correspondence,
            FilterAnalysis,
            Invariance,
            LayerFeatures,
            Occlusion,
            Top9,
        )
        from zfnet_tf.deconv import shared_deconvnet

        deconvnet = shared_deconvnet(self.model)
        params = self.params
        source = DataSource(data) if isinstance(data, str) else data
        scanned = analysis_data(source.replace(limit=params.scan_limit) if isinstance(source, DataSource) else source,
                                self.model)
        scanned = scanned.take(params.scan_limit)
        few = scanned.take(params.images)
        layers = params.top9_layers or tuple(deconvnet.default_layers())
        batch = params.batch_size
        steps: list[tuple[str, str, Callable[[], dict[str, Result]]]] = [
            ("filters", "the first layer's filters and the second layer's projections",
             lambda: {"filters": FilterAnalysis(self.model, batch_size=batch, progress=False,
                                                name=self.model_name).run(scanned)}),
        ]
        for layer in layers:
            steps.append(("top9", f"top-9 of layer {layer}",
                          lambda layer=layer: {f"layer {layer}": self._top9(Top9, deconvnet, layer, scanned)}))
        steps += [
            ("occlusion", f"occlusion on {params.images} image(s)",
             lambda: {"occlusion": Occlusion(self.model, patch_size=params.occlusion_patch_size, batch_size=batch,
                                                    progress=False).run(few)}),
            ("invariance", f"invariance on {params.images} image(s)",
             lambda: {"invariance": Invariance(self.model, batch_size=batch, progress=False).run(few)}),
        ]
        not_run = {}
        if boxes is not None:
            steps.append(("correspondence", "correspondence of the boxed parts",
                          lambda: {"correspondence": Correspondence(self.model, batch_size=batch,
                                                                          progress=False).run(boxes)}))
        else:
            not_run["correspondence"] = "no part boxes given (--boxes)"
        splits = self._layer_feature_data(source, scanned, test_data)
        if isinstance(splits, str):
            not_run["layer_features"] = splits
        else:
            steps.append(("layer_features", "linear classifiers on each layer's features",
                          lambda: {"layer_features": LayerFeatures(self.model, batch_size=batch,
                                                                   progress=False).run(splits)}))
        titles = {key: (title, paper) for key, title, paper in SECTIONS}
        sections: dict[str, Section] = {}
        seconds: dict[str, float] = {}
        for number, (key, what, step) in enumerate(steps, 1):
            if params.progress:
                self._say(f"[{number}/{len(steps)}] {what}")
            started = time.perf_counter()
            results = step()
            seconds[key] = round(seconds.get(key, 0.0) + time.perf_counter() - started, 3)
            title, paper = titles[key]
            sections.setdefault(key, Section(key, title, paper, {})).results.update(results)
        return ReportResult(
            model_name=self.model_name,
            model_summary=model_summary(self.model),
            model_facts=model_facts(self.model),
            data=scanned.summary(),
            sections=[sections[key] for key, _, _ in SECTIONS if key in sections],
            params=params,
            skipped_sections=not_run,
            seconds=seconds,
        )

    def _top9(self, top9_class, deconvnet, layer, data: AnalysisData) -> Result:
        maps = deconvnet.num_features(layer)
        features = tuple(range(min(self.params.top9_features, maps)))
        return top9_class(self.model, layer=layer, features=features, batch_size=self.params.batch_size,
                          progress=False).run(data)

    def _layer_feature_data(self, source, scanned: AnalysisData, test_data) -> dict | str:
        """Table 7's `{"train": data, "test": data}`, or why it does not run."""
        if test_data is not None:
            return {"train": source, "test": test_data}
        if not scanned.labelled:
            return "the data has no labels"
        if not isinstance(source, DataSource):
            return "labelled arrays without test_data (Table 7 needs a train and a test split)"
        return {"train": source.replace(split="train", limit=self.params.train_limit),
                "test": source.replace(split="test", limit=self.params.test_limit)}


def model_summary(model: keras.Model) -> str:
    """Keras' `model.summary()` as plain text, nested models expanded."""
    lines: list[str] = []
    # Keras renders the table for the terminal's width (rich and shutil read COLUMNS): 80
    # columns, without a terminal, would cut the shapes and parameter counts off.
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "200"
    try:
        model.summary(print_fn=lambda text, *args, **kwargs: lines.append(text), expand_nested=True)
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    return "\n".join(line.rstrip() for text in lines for line in text.splitlines())


def model_facts(model: keras.Model) -> dict:
    """The model's name, class, input, parameters and classes, for the page's first table."""
    from zfnet_tf.models import image_transform

    size, resize = image_transform(model)
    names = getattr(model, "class_names", None)
    return {
        "name": model.name,
        "class": type(model).__name__,
        "input": f"{size}x{size}x3 (resized to {resize}, centre crop)",
        "parameters": int(model.count_params()),
        "classes": int(model.output.shape[-1]) if len(model.output.shape) == 2 else None,
        "class_names": None if names is None else list(names)[:INLINE_VALUES],
    }


# -- the page ---------------------------------------------------------------------------------

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1180px; padding: 0 24px 48px; color: #1b1b1b; }
h1 { margin: 24px 0 4px; } h2 { margin-top: 40px; border-bottom: 2px solid #ddd; padding-bottom: 4px; }
h3 { margin: 20px 0 6px; } nav a { margin-right: 14px; } .paper { color: #666; font-weight: normal; font-size: 80%; }
figure { display: inline-block; margin: 8px 16px 8px 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #ddd; } figcaption { color: #555; font-size: 85%; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
td, th { border: 1px solid #ddd; padding: 2px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.number { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f7f7f7; padding: 10px; overflow-x: auto; font-size: 12px; }
.note { color: #555; font-style: italic; } details { margin: 6px 0; }
"""


def render_page(report: ReportResult, record: Mapping) -> str:
    """`index.html`: the page of a saved report (`record`: what `save` wrote)."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>zfnet-tf report: {e(report.model_name)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>zfnet-tf report: {e(report.model_name)}</h1>",
        '<p class="note">The analyses of Zeiler &amp; Fergus, "Visualizing and Understanding '
        'Convolutional Networks" (arXiv 1311.2901). Every number is also in '
        '<a href="report.json">report.json</a>; each analysis\' files are in its folder.</p>',
        "<nav>" + "".join(f'<a href="#{s}">{e(t)}</a>' for s, t in
                          [("model", "Model"), ("data", "Data")] + [(s.key, s.title) for s in report.sections]) + "</nav>",
        '<section id="model"><h2>Model</h2>',
        value_table(report.model_facts),
        f"<details><summary>model.summary()</summary><pre>{e(report.model_summary)}</pre></details>",
        "</section>",
        '<section id="data"><h2>Data</h2>',
        value_table({k: v for k, v in report.data.items() if k != "skipped"}),
        skipped_table(report.data),
    ]
    if report.skipped_sections:
        parts.append("<p>Not run: " + "; ".join(f"{e(k)}: {e(v)}" for k, v in report.skipped_sections.items()) + "</p>")
    parts.append("</section>")
    for section in report.sections:
        parts.append(f'<section id="{e(section.key)}"><h2>{e(section.title)} <span class="paper">paper {e(section.paper)}</span></h2>')
        for name, saved in record["sections"][section.key].items():
            if len(section.results) > 1:
                parts.append(f"<h3>{e(name)}</h3>")
            for path in saved["files"]:
                if path.endswith(".png"):
                    parts.append(f'<figure><img src="{e(path)}" alt="{e(os.path.basename(path))}">'
                                 f"<figcaption>{e(path)}</figcaption></figure>")
            numbers = {k: v for k, v in saved.items() if k not in ("files", "params", "data", "analysis")}
            parts.append(value_table(numbers))
            parts.append(f"<details><summary>parameters</summary>{value_table(saved.get('params', {}))}</details>")
            if saved.get("data") is not None and saved["data"] != report.data:
                parts.append(f"<details><summary>data read</summary>{value_table(saved['data'])}</details>")
            json_files = [p for p in saved["files"] if p.endswith(".json")]
            if json_files:
                parts.append(f'<p class="note">All numbers: <a href="{e(json_files[0])}">{e(json_files[0])}</a></p>')
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def skipped_table(data: Mapping) -> str:
    """The data's skipped files, each with its reason (or a line saying there were none)."""
    skipped = data.get("skipped") or []
    if not skipped:
        return "<p>Skipped files: none.</p>"
    rows = "".join(f"<tr><td>{html.escape(s['path'])}</td><td>{html.escape(s['reason'])}</td></tr>" for s in skipped)
    return f"<h3>Skipped files ({len(skipped)})</h3><table><tr><th>file</th><th>reason</th></tr>{rows}</table>"


def value_table(values: Mapping) -> str:
    """A two-column table of a JSON record: scalars as they are, short lists inline, lists of
    records as nested tables (the first `TABLE_ROWS` rows), long numeric lists summarized."""
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_cell(v)}</td></tr>" for k, v in values.items())
    return f"<table>{rows}</table>" if rows else ""


def _cell(value: Any) -> str:
    if isinstance(value, Mapping):
        if all(_is_scalar(v) for v in value.values()) and len(value) > 6:
            return _records_table([value])
        return value_table(value)
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, Mapping) for v in value):
            return _records_table(value)
        flat = _flatten(value)
        if flat is None:
            return html.escape(str(value))
        if len(flat) <= INLINE_VALUES and len(flat) == len(value):
            return ", ".join(_scalar(v) for v in flat) or "(none)"
        return _summary(value, flat)
    return _scalar(value)


def _records_table(records: Sequence[Mapping]) -> str:
    columns = list(dict.fromkeys(k for r in records for k in r))
    shown = records[:TABLE_ROWS]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c in columns) + "</tr>" for r in shown)
    more = f'<p class="note">{len(records) - len(shown)} more rows in the JSON</p>' if len(records) > len(shown) else ""
    return f"<table><tr>{head}</tr>{body}</table>{more}"


def _summary(value, flat: list) -> str:
    numbers = [v for v in flat if isinstance(v, (int, float)) and not isinstance(v, bool)]
    shape = _shape(value)
    if not numbers:
        return html.escape(f"[{shape}] " + ", ".join(str(v) for v in flat[:INLINE_VALUES]) + " ...")
    array = np.asarray(numbers, np.float64)
    return html.escape(f"[{shape}] min {array.min():.4g}, mean {array.mean():.4g}, max {array.max():.4g}")


def _shape(value) -> str:
    """`"20x20"` for nested lists of equal lengths, else the outer length."""
    sizes = []
    while isinstance(value, (list, tuple)):
        sizes.append(len(value))
        if not value or any(not isinstance(v, (list, tuple)) or len(v) != len(value[0]) for v in value[1:]):
            break
        value = value[0]
    return "x".join(str(n) for n in sizes)


def _flatten(value) -> list | None:
    out = []
    for item in value:
        if isinstance(item, (list, tuple)):
            inner = _flatten(item)
            if inner is None:
                return None
            out += inner
        elif _is_scalar(item):
            out.append(item)
        else:
            return None
    return out


def _is_scalar(value) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _scalar(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return html.escape(str(value))
        return f"{value:.4g}"
    return html.escape(str(value))
