"""`zfnet-tf report`: a real run of the command (in-process: the process boundary is not what
these tests are about), its page opened from disk in headless Chromium (every section, every
image loaded, nothing fetched from anywhere but the disk), and its JSON equal to the analyses'
own."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from support.browser import HeadlessChromium, require_browser
from support.cli import run_main

SECTIONS = ("model", "data", "filters", "top9", "occlusion", "invariance", "correspondence", "layer_features")
REPORT_FLAGS = ["--dataset", "digits", "--scan-limit", "40", "--top9-layers", "1", "5", "--top9-features", "2",
                "--images-swept", "2", "--train-limit", "150", "--test-limit", "60"]


@pytest.fixture(scope="module")
def report(tiny_export, tmp_path_factory):
    keras_path, _ = tiny_export
    root = tmp_path_factory.mktemp("report")
    boxes = root / "boxes.json"
    boxes.write_text(json.dumps([
        {"image": i, "part": "centre", "box": [20, 20, 44, 44]} for i in range(3)
    ] + [{"image": i, "part": "corner", "box": [0, 0, 16, 16]} for i in range(3)]))
    out = root / "out"
    code, stdout, stderr = run_main(["report", "--model", keras_path, *REPORT_FLAGS, "--boxes", boxes, "--out", out], None)
    assert code == 0, stderr[-3000:]
    return out, stdout, keras_path


def test_progress_lines_name_every_step(report):
    _, stdout, _ = report
    lines = [line for line in stdout.splitlines() if line.startswith("[")]
    assert lines[0].startswith("[1/7] the first layer's filters")
    assert [line.split("] ", 1)[1] for line in lines[1:]] == [
        "top-9 of layer 1", "top-9 of layer 5", "occlusion on 2 image(s)", "invariance on 2 image(s)",
        "correspondence of the boxed parts", "linear classifiers on each layer's features"]
    assert f"wrote {report[0] / 'index.html'}" in stdout


def test_report_json_is_every_analysis_own_json(report):
    out, _, _ = report
    record = json.loads((out / "report.json").read_text())
    assert set(record["sections"]) == set(SECTIONS) - {"model", "data"}
    count = 0
    for section, results in record["sections"].items():
        for saved in results.values():
            own_file = next(p for p in saved["files"] if p.endswith(".json"))
            own = json.loads((out / own_file).read_text())
            assert own["files"] == [str(out / p) for p in saved["files"]]
            assert {k: v for k, v in own.items() if k != "files"} == {k: v for k, v in saved.items() if k != "files"}
            for path in saved["files"]:
                assert (out / path).is_file()
            count += 1
    assert count == 7  # filters, 2 x top9, occlusion, invariance, correspondence, layer features
    assert record["report"]["data"]["num_examples"] == 40 and record["report"]["data"]["skipped_files"] == 0


def test_report_numbers_equal_the_analysis_command_run_alone(report, tmp_path, capsys):
    """`zfnet-tf occlusion` on the same model and images gives the numbers the report shows."""
    out, _, keras_path = report
    code, _, stderr = run_main(["occlusion", "--model", keras_path, "--dataset", "digits", "--limit", "2",
                                "--out", tmp_path], capsys)
    assert code == 0, stderr[-3000:]
    alone = json.loads((tmp_path / "occlusion.json").read_text())
    in_report = json.loads((out / "report.json").read_text())["sections"]["occlusion"]["occlusion"]
    assert alone["params"] == in_report["params"]
    keys = set(alone) - {"files", "data", "seconds", "timings"}
    assert keys <= set(in_report)

    def leaves(value):
        if isinstance(value, dict):
            return [leaf for key in sorted(value) for leaf in leaves(value[key])]
        if isinstance(value, list):
            return [leaf for item in value for leaf in leaves(item)]
        return [value]

    for key in keys:
        a, b = leaves(alone[key]), leaves(in_report[key])
        assert len(a) == len(b), key
        numeric = [(x, y) for x, y in zip(a, b) if isinstance(x, float)]
        assert [x for x in a if not isinstance(x, float)] == [y for y in b if not isinstance(y, float)], key
        if numeric:
            np.testing.assert_allclose(*zip(*numeric), rtol=1e-4, atol=1e-5, err_msg=key)


@pytest.fixture(scope="module")
def chromium():
    require_browser()
    with HeadlessChromium(width=1280, height=1000) as driver:
        yield driver


def test_the_page_opens_from_disk_with_every_section_and_image(report, chromium):
    out, _, _ = report
    page = Path(out / "index.html")
    html = page.read_text()
    assert "http://" not in html and "https://" not in html and "<script" not in html
    chromium.get(page.as_uri())
    ids = chromium.execute_script("return Array.from(document.querySelectorAll('section')).map(s => s.id)")
    assert ids == list(SECTIONS)
    images = chromium.execute_script(
        "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])")
    record = json.loads((out / "report.json").read_text())
    pngs = [p for results in record["sections"].values() for saved in results.values()
            for p in saved["files"] if p.endswith(".png")]
    assert sorted(src for src, _, _ in images) == sorted(pngs) and len(pngs) >= 8
    for src, complete, width in images:
        assert complete and width > 0, src
    # Nothing fetched but files: every URL the document holds (its images, links, styles)
    # resolves to file://, and the browser's resource timing lists no request to anywhere else
    # (Chromium records http(s) fetches there; it does not list file:// reads).
    urls = chromium.execute_script(
        "return [location.href]"
        ".concat(Array.from(document.images).map(i => i.currentSrc))"
        ".concat(Array.from(document.querySelectorAll('[href]')).filter(e => !e.getAttribute('href').startsWith('#')).map(e => e.href))"
        ".concat(Array.from(document.styleSheets).filter(s => s.href).map(s => s.href))"
        ".concat(performance.getEntriesByType('resource').map(e => e.name))")
    assert len(urls) >= 1 + len(pngs) + 1  # the page, its figures, report.json and the analyses' JSON
    assert all(url.startswith("file://") for url in urls), [u for u in urls if not u.startswith("file://")]
    assert not chromium.execute_script("return performance.getEntriesByType('resource').filter(e => !e.name.startsWith('file:')).length")
    # Numbers as tables: the invariance section shows the labels it measured, the data its count.
    text = chromium.find_element("id", "data").text
    assert "num_examples" in text and "40" in text and "Skipped files: none." in text
    assert "conv1" in chromium.find_element("id", "model").get_attribute("innerHTML")
    # Table 7's accuracies, each as the page's table shows it (4 significant digits).
    accuracy = record["sections"]["layer_features"]["layer_features"]["accuracy"]["softmax"]
    section = chromium.find_element("id", "layer_features").text
    assert accuracy and all(f"{value:.4g}" in section for value in accuracy.values())
    assert chromium.find_element("id", "occlusion").find_elements("css selector", "img")


def test_skipped_files_appear_on_the_page(tiny_export, tmp_path, capsys):
    from support.class_images import write_class_folders
    from zfnet_tf.data import SkippedFilesWarning

    root = write_class_folders(tmp_path / "images", {"a": 5, "b": 5})
    broken = os.path.join(root, "b", "b_001.png")
    with open(broken, "wb") as handle:
        handle.write(b"not an image at all")
    out = tmp_path / "out"
    keras_path, _ = tiny_export
    with pytest.warns(SkippedFilesWarning, match="b_001.png") as warned:
        code, _, stderr = run_main(["report", "--model", keras_path, "--dataset", "folder", "--data-dir", root,
                                    "--top9-layers", "1", "--top9-features", "1", "--images-swept", "1", "--quiet",
                                    "--out", out], capsys)
    assert code == 0, stderr[-3000:]
    assert {str(w.message).split(" (")[0] for w in warned if issubclass(w.category, SkippedFilesWarning)} == {
        "skipped 1 file(s) of folder[test]", "skipped 1 file(s) of folder[train]"}
    html = (out / "index.html").read_text()
    assert "Skipped files (1)" in html and broken in html and "not a JPEG, PNG, GIF, BMP or WebP image" in html
    record = json.loads((out / "report.json").read_text())
    assert record["report"]["data"]["skipped"][0]["path"] == broken
    # Labelled folder data without separate split folders: Table 7 reads the same images twice.
    assert "layer_features" in record["sections"]


def test_bad_input_exits_2(tmp_path, capsys):
    code, _, stderr = run_main(["report", "--model", "missing.keras", "--out", tmp_path], capsys)
    assert code == 2
    assert "model file not found: missing.keras" in stderr
    assert not (tmp_path / "index.html").exists()
