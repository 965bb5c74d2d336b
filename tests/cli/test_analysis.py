"""Every analysis command writes its PNG(s) and a JSON whose numbers are right: each checked
against an independent computation (the model's own Keras layers, NumPy, scikit-learn) on the
same seeded weights (in-process; tiny preset and keras.applications VGG16, embedded digits)."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import zfnet_tf
from zfnet_tf.cli.main import main
from zfnet_tf.data import DataSource, load_data, load_image_files


def outputs(folder):
    files = sorted(os.listdir(folder))
    return [f for f in files if f.endswith(".png")], [f for f in files if f.endswith(".json")]


def read_png(path):
    with Image.open(path) as image:
        return np.asarray(image)


def seeded(build, seed=0):
    """The model a command builds from `--preset` / `--keras-application` with `--seed seed`."""
    keras.utils.set_random_seed(seed)
    return build()


def digits(count, split="test", size=64, resize_size=None):
    dataset = load_data(DataSource("digits", split=split, limit=count), size, resize_size).dataset
    images, labels = zip(*dataset.as_numpy_iterator())
    return np.stack(images), np.array(labels)


def brute_force_top(top, k):
    """Per map of `top` [N, ..., C]: each image's maximum, then the k best images (stable)."""
    per_image = top.reshape(len(top), -1, top.shape[-1]).max(axis=1).T  # [C, N]
    order = np.argsort(-per_image, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(per_image, order, axis=1), order


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
    assert outputs(out) == (["top9_layer2.png"], ["top9_layer2.json"])
    numbers = json.loads((out / "top9_layer2.json").read_text())
    assert numbers["num_images"] == 40 and len(numbers["maps"]) == 64
    assert numbers["projected_features"] == [0, 1, 2] and numbers["data"]["source"] == "digits[test]"
    model = seeded(lambda: zfnet_tf.build_model("tiny"))
    images, _ = digits(40)
    values, order = brute_force_top(model.backbone.feature_extractor(["pool2"])(images)["pool2"].numpy(), 9)
    for c in (0, 1, 63):
        top = numbers["maps"][c]["top"]
        np.testing.assert_allclose([row["value"] for row in top], values[c], rtol=1e-5)
        assert [row["image"] for row in top] == order[c].tolist()
        assert top[0]["image_name"] == f"digits[test][{order[c, 0]}]"
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
    assert numbers["rows"] == list(range(0, 49, 8)) and numbers["label_source"] == "given"
    # One position by hand: the second photo with the model's mean colour at rows 16-31, cols 8-23.
    model = seeded(lambda: zfnet_tf.build_model("tiny"))
    image = load_image_files(image_files[1:2], 64)[0]
    occluded = image.copy()
    occluded[16:32, 8:24] = model.config.mean_rgb
    probabilities = tf.nn.softmax(model(occluded[None])).numpy()[0]
    entry = numbers["images"][1]
    assert entry["name"] == "photo1.png"
    assert entry["label_probability"][2][1] == pytest.approx(probabilities[5], rel=1e-4, abs=1e-6)
    assert entry["top_class"][2][1] == probabilities.argmax()
    pool5 = model.backbone.feature_extractor(["pool5"])(image[None])["pool5"].numpy()[0]
    assert entry["feature"] == pool5.max(axis=(0, 1)).argmax()
    assert entry["unoccluded"]["feature_activation"] == pytest.approx(pool5[..., entry["feature"]].sum(), rel=1e-5)


def test_invariance_on_digits(tmp_path):
    out = tmp_path / "invariance"
    assert main(["invariance", "--preset", "tiny", "--dataset", "digits", "--limit", "2",
                 "--transforms", "translation", "rotation", "--out", str(out)]) == 0
    assert outputs(out) == (["invariance.png"], ["invariance.json"])
    numbers = json.loads((out / "invariance.json").read_text())
    assert sorted(numbers["sweeps"]) == ["rotation", "translation"]
    assert numbers["label_source"] == "given"  # the dataset's labels
    model = seeded(lambda: zfnet_tf.build_model("tiny"))
    images, labels = digits(2)
    assert numbers["labels"] == labels.tolist()
    # A quarter turn moves pixels exactly: fc7 of np.rot90 against the original's.
    extract = model.backbone.feature_extractor(["fc7"])
    before = extract(images)["fc7"].numpy()
    after = extract(np.rot90(images, 1, axes=(1, 2)).copy())["fc7"].numpy()
    rotation = numbers["sweeps"]["rotation"]
    assert rotation["amounts"][9] == 90
    distance = np.asarray(rotation["distance"]["7"])
    assert distance.shape == (2, 36) and np.allclose(distance[:, 0], 0, atol=1e-3)
    np.testing.assert_allclose(distance[:, 9], np.linalg.norm(after - before, axis=1), rtol=1e-3)


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
    numbers = json.loads((out / "correspondence.json").read_text())
    assert numbers["images"] == ["digits[test][0]", "digits[test][1]", "digits[test][2]"]
    # The paper's Δ at layer 7, from fc7 of the digits and of the digits with the box grey.
    model = seeded(lambda: zfnet_tf.build_model("tiny"))
    images, _ = digits(3)
    masked = images.copy()
    masked[:, 4:20, 16:48] = model.config.mean_rgb
    extract = model.backbone.feature_extractor(["fc7"])
    before = extract(images)["fc7"].numpy().astype(np.float64)
    epsilon = before - extract(masked)["fc7"].numpy()
    epsilon[np.abs(epsilon) <= 1e-5 * np.abs(before).max(axis=1, keepdims=True)] = 0
    signs = np.sign(epsilon)
    counts = [(signs[i] != signs[j]).sum() for i in range(3) for j in range(3) if i != j]
    assert numbers["parts"]["top"]["7"]["delta"] == sum(counts)
    assert numbers["parts"]["top"]["7"]["mean"] == pytest.approx(np.mean(counts) / before.shape[1])


def test_correspondence_refuses_file_boxes_for_a_cropping_model(tmp_path, image_files, capsys):
    """Boxes in image-file pixels are mapped through a resize to the input size only; a model
    whose transform crops (resize_size > input_size) must get model-input boxes instead."""
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
    tiny = numbers["models"]["tiny"]
    assert sum(tiny["summary"]["layer1_mean_band_energy"].values()) == pytest.approx(1.0)
    kernel = seeded(lambda: zfnet_tf.build_model("tiny"), 1).backbone.get_layer("conv1").kernel.numpy()
    np.testing.assert_allclose(tiny["norms"]["conv1"], np.sqrt((kernel.astype(np.float64) ** 2).sum(axis=(0, 1, 2))), atol=1e-6)
    assert numbers["models"]["tiny (2)"]["norms"] == tiny["norms"]  # the same seed, the same weights


def test_layer_features(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer, StandardScaler
    from sklearn.svm import LinearSVC

    out = tmp_path / "layer_features"
    assert main(["layer-features", "--preset", "tiny", "--dataset", "digits", "--train-limit", "60",
                 "--test-limit", "30", "--layers", "1", "7", "--max-dimensions", "256",
                 "--out", str(out)]) == 0
    assert outputs(out) == (["layer_features.png"], ["layer_features.json"])
    numbers = json.loads((out / "layer_features.json").read_text())
    assert sorted(numbers["accuracy"]) == ["softmax", "svm"] and sorted(numbers["accuracy"]["svm"]) == ["1", "7"]
    assert numbers["num_train"] == 60 and numbers["num_test"] == 30
    model = seeded(lambda: zfnet_tf.build_model("tiny"))
    (x_train, y_train), (x_test, y_test) = digits(60, "train"), digits(30, "test")
    extract = model.backbone.feature_extractor(["fc7"])
    f_train, f_test = extract(x_train)["fc7"].numpy(), extract(x_test)["fc7"].numpy()
    # The softmax on standardized features (transfer's), the SVM on them scaled to unit length.
    for name, steps in (("softmax", [LogisticRegression(max_iter=2000)]), ("svm", [Normalizer(), LinearSVC(max_iter=2000)])):
        reference = make_pipeline(StandardScaler(), *steps).fit(f_train, y_train)
        assert numbers["accuracy"][name]["7"] == pytest.approx(reference.score(f_test, y_test))


def test_analyses_of_a_keras_application_by_layer_name(tmp_path):
    """`--keras-application VGG16` (random weights at 32 pixels) with `--layer NAME`."""
    model_flags = ["--keras-application", "VGG16", "--weights", "none", "--input-size", "32"]
    out = tmp_path / "vgg16"
    assert main(["top9", *model_flags, "--dataset", "digits", "--limit", "12", "--layer", "block3_conv3",
                 "--features", "0", "5", "--k", "3", "--out", str(out / "top9")]) == 0
    assert outputs(out / "top9") == (["top9_block3_conv3.png"], ["top9_block3_conv3.json"])
    numbers = json.loads((out / "top9" / "top9_block3_conv3.json").read_text())
    vgg16 = seeded(lambda: zfnet_tf.keras_application("VGG16", None, 32))
    base = vgg16.get_layer("vgg16")
    # keras.applications models see ImageNet's evaluation crop: 32 of 37 (256 / 224) pixels.
    images, _ = digits(12, size=32, resize_size=37)
    block3 = keras.Model(base.input, base.get_layer("block3_conv3").output)(vgg16.get_layer("preprocess")(images))
    values, order = brute_force_top(block3.numpy(), 3)
    for c in (0, 5, 255):
        np.testing.assert_allclose([row["value"] for row in numbers["maps"][c]["top"]], values[c], rtol=1e-4)
        assert [row["image"] for row in numbers["maps"][c]["top"]] == order[c].tolist()

    assert main(["occlusion", *model_flags, "--dataset", "digits", "--limit", "1", "--layer", "block4_conv3",
                 "--patch-size", "16", "--stride", "16", "--out", str(out / "occlusion")]) == 0
    numbers = json.loads((out / "occlusion" / "occlusion.json").read_text())
    assert numbers["layer"] == "block4_conv3" and np.asarray(numbers["images"][0]["label_probability"]).shape == (2, 2)
    block4 = keras.Model(base.input, base.get_layer("block4_conv3").output)(vgg16.get_layer("preprocess")(images[:1]))
    feature = numbers["images"][0]["feature"]
    assert feature == block4.numpy().max(axis=(0, 1, 2)).argmax()
    assert numbers["images"][0]["unoccluded"]["feature_activation"] == pytest.approx(
        float(block4.numpy()[0, ..., feature].sum()), rel=1e-4)
    assert main(["invariance", *model_flags, "--limit", "1",
                 "--layers", "block2_conv2", "fc2", "--transforms", "rotation", "--out", str(out / "invariance")]) == 0
    numbers = json.loads((out / "invariance" / "invariance.json").read_text())
    assert numbers["layer_outputs"] == ["block2_conv2", "fc2"]
    assert np.allclose(np.asarray(numbers["sweeps"]["rotation"]["distance"]["fc2"])[:, 0], 0, atol=1e-3)


def test_bad_input_is_a_named_error(tmp_path, capsys):
    code = main(["correspondence", "--preset", "tiny", "--boxes", str(tmp_path / "missing.json"),
                 "--out", str(tmp_path)])
    assert code == 2
    assert "zfnet-tf correspondence: error: box file not found" in capsys.readouterr().err
    code = main(["top9", "--preset", "tiny", "--dataset", "digits", "--features", "999", "--limit", "5",
                 "--out", str(tmp_path)])
    assert code == 2
    assert "features [999] out of range for layer 5" in capsys.readouterr().err
    code = main(["top9", "--keras-application", "VGG16", "--weights", "none", "--input-size", "32",
                 "--layer", "3", "--out", str(tmp_path)])
    assert code == 2
    assert "layer numbers 1-5 name ZFNet's layers; name a layer of this model instead" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        main(["occlusion", "--preset", "tiny", "--stride", "0", "--out", str(tmp_path)])
    assert refused.value.code == 2
    assert "argument --stride: must be a positive integer, got 0" in capsys.readouterr().err
    # --fill and --transforms are checked by the analyses' params, before the model is built.
    code = main(["occlusion", "--preset", "tiny", "--fill", "1,2", "--out", str(tmp_path)])
    assert code == 2
    assert "fill must be 'mean', a number or 3 numbers (RGB 0-255), got '1,2'" in capsys.readouterr().err
    code = main(["invariance", "--preset", "tiny", "--transforms", "shear", "--out", str(tmp_path)])
    assert code == 2
    assert "transforms must be among ('translation', 'scale', 'rotation'), got ['shear']" in capsys.readouterr().err
    assert not os.listdir(tmp_path)
    # --dataset's choices are zfnet_tf.data.DATASETS: argparse refuses another name, listing them.
    with pytest.raises(SystemExit) as refused:
        main(["invariance", "--preset", "tiny", "--dataset", "mnist2", "--out", str(tmp_path)])
    assert refused.value.code == 2
    assert "invalid choice: 'mnist2' (choose from" in capsys.readouterr().err
