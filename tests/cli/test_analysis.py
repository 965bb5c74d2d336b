"""Every analysis command writes its PNG(s) and JSON (in-process, tiny preset, embedded digits)."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from zfnet_tf.cli.main import main


def outputs(folder):
    files = sorted(os.listdir(folder))
    return [f for f in files if f.endswith(".png")], [f for f in files if f.endswith(".json")]


def read_png(path):
    with Image.open(path) as image:
        return np.asarray(image)


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.RandomState(0)
    paths = []
    for i in range(3):
        pixels = rng.randint(0, 256, (80, 96, 3)).astype(np.uint8)  # not square: tests the crop
        path = folder / f"photo{i}.png"
        Image.fromarray(pixels).save(path)
        paths.append(str(path))
    return paths


def test_top9(tmp_path, capsys):
    out = tmp_path / "top9"
    code = main(["top9", "--preset", "tiny", "--dataset", "digits", "--limit", "40", "--layer", "2",
                 "--features", "0", "1", "2", "--out", str(out)])
    assert code == 0
    pngs, jsons = outputs(out)
    assert pngs == ["top9_layer2.png"] and jsons == ["top9_layer2.json"]
    numbers = json.loads((out / "top9_layer2.json").read_text())
    assert numbers["num_images"] == 40 and len(numbers["maps"]) == 64
    assert numbers["projected_features"] == [0, 1, 2]
    tops = [row["value"] for row in numbers["maps"][0]["top"]]
    assert len(tops) == 9 and tops == sorted(tops, reverse=True)
    assert read_png(out / "top9_layer2.png").std() > 0
    assert "wrote" in capsys.readouterr().out


def test_occlusion_on_image_files_with_labels(tmp_path, image_files):
    out = tmp_path / "occlusion"
    code = main(["occlusion", "--preset", "tiny", "--images", *image_files[:2], "--labels", "3", "5",
                 "--patch-size", "16", "--stride", "8", "--out", str(out)])
    assert code == 0
    assert outputs(out) == (["occlusion.png"], ["occlusion.json"])
    numbers = json.loads((out / "occlusion.json").read_text())
    assert [entry["label"] for entry in numbers["images"]] == [3, 5]
    assert numbers["rows"] == list(range(0, 49, 8))
    assert np.asarray(numbers["images"][0]["label_probability"]).shape == (7, 7)


def test_invariance_on_digits(tmp_path):
    out = tmp_path / "invariance"
    assert main(["invariance", "--preset", "tiny", "--dataset", "digits", "--limit", "2",
                 "--transforms", "translation", "rotation", "--out", str(out)]) == 0
    assert outputs(out) == (["invariance.png"], ["invariance.json"])
    numbers = json.loads((out / "invariance.json").read_text())
    assert sorted(numbers["sweeps"]) == ["rotation", "translation"]
    assert numbers["label_source"] == "given"  # the dataset's labels
    distance = np.asarray(numbers["sweeps"]["rotation"]["distance"]["7"])
    assert distance.shape == (2, 36) and np.allclose(distance[:, 0], 0, atol=1e-3)


def test_correspondence_with_files_and_dataset_indices(tmp_path, image_files):
    boxes = tmp_path / "parts.csv"
    rows = ["image,part,top,left,bottom,right"]
    for i, path in enumerate(image_files):
        rows.append(f"{os.path.basename(path)},left,10,10,30,30")
        rows.append(f"{os.path.basename(path)},right,10,60,30,80")
    boxes.write_text("\n".join(rows) + "\n")
    out = tmp_path / "correspondence"
    # Relative names are found among --images.
    assert main(["correspondence", "--preset", "tiny", "--images", *image_files, "--boxes", str(boxes),
                 "--random-draws", "2", "--out", str(out)]) == 0
    assert outputs(out) == (["correspondence.png"], ["correspondence.json"])
    numbers = json.loads((out / "correspondence.json").read_text())
    assert [row["row"] for row in numbers["table"]] == ["left", "right", "random (left size)", "random (right size)"]
    # 80x96 file -> 64x77 (x 0.8 and x 77/96), centre crop from column 6; rounded outwards:
    # rows 8..24, columns floor(8.02) - 6 = 2 .. ceil(24.06) - 6 = 19.
    assert numbers["boxes"]["left"][0] == [8, 2, 24, 19]

    indexed = tmp_path / "digits.json"
    indexed.write_text(json.dumps([{"image": i, "part": "top", "box": [4, 16, 20, 48]} for i in range(3)]))
    out = tmp_path / "correspondence_digits"
    assert main(["correspondence", "--preset", "tiny", "--dataset", "digits", "--boxes", str(indexed),
                 "--random-draws", "1", "--out", str(out)]) == 0
    assert outputs(out) == (["correspondence.png"], ["correspondence.json"])


def test_correspondence_refuses_file_boxes_for_a_cropping_model(tmp_path, image_files, capsys):
    """Boxes in image-file pixels are mapped through a resize to the input size only; a model
    whose transform crops (resize_size > input_size) must get model-input boxes instead."""
    import keras

    import zfnet_tf

    keras.utils.set_random_seed(0)
    model_path = str(tmp_path / "cropping.keras")
    zfnet_tf.build_model("tiny", resize_size=80).save(model_path)
    boxes = tmp_path / "parts.csv"
    boxes.write_text(f"image,part,top,left,bottom,right\n{image_files[0]},left,10,10,30,30\n")
    code = main(["correspondence", "--model", model_path, "--boxes", str(boxes), "--out", str(tmp_path / "c")])
    assert code == 2
    assert "this one crops 64 of 80 pixels" in capsys.readouterr().err


def test_filters_side_by_side(tmp_path):
    out = tmp_path / "filters"
    assert main(["filters", "--preset", "tiny", "--compare-preset", "tiny", "--seed", "1",
                 "--dataset", "digits", "--limit", "20", "--out", str(out)]) == 0
    assert outputs(out) == (["filters.png", "filters_layer2.png"], ["filters.json"])
    numbers = json.loads((out / "filters.json").read_text())
    assert sorted(numbers["models"]) == ["tiny", "tiny (2)"]
    bands = numbers["models"]["tiny"]["summary"]["layer1_mean_band_energy"]
    assert sum(bands.values()) == pytest.approx(1.0)


def test_layer_features(tmp_path):
    out = tmp_path / "layer_features"
    assert main(["layer-features", "--preset", "tiny", "--dataset", "digits", "--train-limit", "60",
                 "--test-limit", "30", "--layers", "1", "7", "--max-dimensions", "256",
                 "--out", str(out)]) == 0
    assert outputs(out) == (["layer_features.png"], ["layer_features.json"])
    numbers = json.loads((out / "layer_features.json").read_text())
    assert sorted(numbers["accuracy"]) == ["softmax", "svm"] and sorted(numbers["accuracy"]["svm"]) == ["1", "7"]


def test_bad_input_is_a_named_error(tmp_path, capsys):
    code = main(["correspondence", "--preset", "tiny", "--boxes", str(tmp_path / "missing.json"),
                 "--out", str(tmp_path)])
    assert code == 2
    assert "zfnet-tf correspondence: error: box file not found" in capsys.readouterr().err
    code = main(["top9", "--preset", "tiny", "--dataset", "digits", "--features", "999", "--limit", "5",
                 "--out", str(tmp_path)])
    assert code == 2
    assert "features [999] out of range for layer 5" in capsys.readouterr().err
