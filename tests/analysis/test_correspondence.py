"""Correspondence (Table 1): Δ by hand, and the analysis against features read directly."""

import json

import numpy as np
import pytest

from zfnet_tf.analysis import AnalysisData, Correspondence, load_boxes
from zfnet_tf.analysis.correspondence import box_in_input, boxes_by_part, sign_change_distances


def test_delta_equals_the_hand_computed_value():
    epsilons = np.array([[1.0, -2.0, 0.0, 3.0], [1.0, 2.0, 0.0, -1.0], [-1.0, -1.0, 0.0, 2.0]])
    # signs: (+ - 0 +), (+ + 0 -), (- - 0 +): H(1,2) = 2, H(1,3) = 1, H(2,3) = 3.
    delta, distances = sign_change_distances(epsilons)
    assert delta == 2 * (2 + 1 + 3)
    np.testing.assert_array_equal(distances * 4, [[0, 2, 1], [2, 0, 3], [1, 3, 0]])
    # Normalized as the paper's ~0.07: mean over the 6 ordered pairs of H / D.
    assert delta / (3 * 2 * 4) == pytest.approx(0.5)


def test_run_matches_features_read_directly(tiny_model):
    images = np.random.RandomState(8).uniform(0, 255, (4, 64, 64, 3)).astype(np.float32)
    boxes = {"eye": np.array([[10, 10, 22, 22], [12, 30, 24, 42], [8, 8, 20, 20], [30, 30, 42, 42]])}
    analysis = Correspondence(tiny_model, random_draws=3, seed=1)
    assert analysis.layers == (5, 7) and analysis.layer_names == ("pool5", "fc7")
    result = analysis.run(AnalysisData.from_arrays(images, boxes=boxes))

    extractor = tiny_model.backbone.feature_extractor(["pool5", "fc7"])
    masked = images.copy()
    for i, (t, l, b, r) in enumerate(boxes["eye"]):
        masked[i, t:b, l:r] = tiny_model.config.mean_rgb
    before, after = extractor(images), extractor(masked)
    x5_size = int(np.prod(before["pool5"].shape[1:]))
    for layer, name in ((5, "pool5"), (7, "fc7")):
        x = before[name].numpy().reshape(4, -1).astype(np.float64)
        epsilon = x - after[name].numpy().reshape(4, -1)
        epsilon[np.abs(epsilon) <= 1e-5 * np.abs(x).max(axis=1, keepdims=True)] = 0
        signs = np.sign(epsilon)
        pair_counts = [(signs[i] != signs[j]).sum() for i in range(4) for j in range(4) if i != j]
        numbers = result.parts["eye"][layer]
        assert numbers["delta"] == sum(pair_counts)
        assert numbers["mean"] == pytest.approx(np.mean(pair_counts) / x.shape[1])
        assert numbers["std"] == pytest.approx(np.std(np.array(pair_counts) / x.shape[1]))
        assert numbers["pairs"] == 12
        assert 0 < numbers["mean"] < 1
    random_boxes = result.random_boxes["eye"]
    assert random_boxes.shape == (3, 4, 4)
    np.testing.assert_array_equal(random_boxes[..., 2] - random_boxes[..., 0], 12)
    assert (random_boxes >= 0).all() and (random_boxes <= 64).all()
    assert result.random["eye"][5]["pairs"] == 36
    rows = result.table()
    assert [row["row"] for row in rows] == ["eye", "random (eye size)"]
    # The JSON carries the same numbers: Table 1's row as text, the pairwise distances, the boxes.
    record = json.loads(json.dumps(result.to_json()))
    eye = record["parts"]["eye"]["5"]
    assert eye["delta"] == result.parts["eye"][5]["delta"] and eye["pairs"] == 12
    np.testing.assert_allclose(eye["distances"], result.parts["eye"][5]["distances"], atol=1e-6)
    mean, std = result.parts["eye"][7]["mean"], result.parts["eye"][7]["std"]
    assert record["table"][0] == {"row": "eye", "layer 5": f"{result.parts['eye'][5]['mean']:.3f} ± "
                                  f"{result.parts['eye'][5]['std']:.3f}", "layer 7": f"{mean:.3f} ± {std:.3f}"}
    assert record["boxes"]["eye"] == boxes["eye"].tolist()
    assert record["random_boxes"]["eye"] == random_boxes.tolist()
    assert record["dimensions"] == {"5": x5_size, "7": int(before["fc7"].shape[1])}


def test_box_files(tmp_path):
    (tmp_path / "boxes.json").write_text(json.dumps({"boxes": [
        {"image": "a.png", "part": "nose", "box": [1, 2, 5, 6]},
        {"image": "b.png", "part": "nose", "top": 3, "left": 4, "bottom": 9, "right": 9},
    ]}))
    entries = load_boxes(tmp_path / "boxes.json")
    assert entries[0] == {"image": str(tmp_path / "a.png"), "part": "nose", "box": (1, 2, 5, 6)}
    (tmp_path / "boxes.csv").write_text("image,part,top,left,bottom,right\n0,eye,1,1,4,4\n1,eye,2,2,5,5\n0,ear,0,0,3,3\n")
    with pytest.raises(ValueError, match=r"part 'ear' has no box for image\(s\) \[1\]"):
        boxes_by_part(load_boxes(tmp_path / "boxes.csv"))
    with open(tmp_path / "boxes.csv", "a") as handle:
        handle.write("1,ear,1,1,3,3\n")
    images, parts = boxes_by_part(load_boxes(tmp_path / "boxes.csv"))
    assert images == [0, 1] and sorted(parts) == ["ear", "eye"]
    np.testing.assert_array_equal(parts["ear"], [[0, 0, 3, 3], [1, 1, 3, 3]])
    (tmp_path / "bad.csv").write_text("image,part,top,left,bottom,right\n0,eye,5,1,4,4\n")
    with pytest.raises(ValueError, match="bad.csv.*bottom > top"):
        load_boxes(tmp_path / "bad.csv")
    # A 200x100 (h x w) file at input 50: scale 0.5 -> 100x50, centre crop rows 25..75.
    assert box_in_input((60, 10, 100, 30), (200, 100), 50) == (5, 5, 25, 15)


def test_named_vgg16_layers_and_the_sign_changes_of_its_own_features(vgg16, vgg16_layer):
    """Any model by layer name: Δ of VGG16's `block4_conv3` and `fc2` recomputed from the
    application's own outputs on the masked images (masked with its neutral grey)."""
    images = np.random.RandomState(1).uniform(0, 255, (3, 32, 32, 3)).astype(np.float32)
    boxes = {"corner": np.array([[0, 0, 8, 8], [4, 4, 12, 12], [20, 20, 28, 28]])}
    analysis = Correspondence(vgg16, layers=("block4_conv3", "fc2"), random_draws=0)
    assert Correspondence(vgg16).layers == ("block5_conv3", "fc2")
    result = analysis.run(AnalysisData.from_arrays(images, boxes=boxes))
    masked = images.copy()
    for i, (t, l, b, r) in enumerate(boxes["corner"]):
        masked[i, t:b, l:r] = analysis.fill
    before = vgg16_layer(images, "block4_conv3", "fc2")
    after = vgg16_layer(masked, "block4_conv3", "fc2")
    for name, b, a in zip(("block4_conv3", "fc2"), before, after):
        x = b.reshape(3, -1).astype(np.float64)
        epsilon = x - a.reshape(3, -1)
        epsilon[np.abs(epsilon) <= 1e-5 * np.abs(x).max(axis=1, keepdims=True)] = 0
        signs = np.sign(epsilon)
        counts = [(signs[i] != signs[j]).sum() for i in range(3) for j in range(3) if i != j]
        # float32 noise of the two passes can flip a sign at the tolerance's edge.
        assert abs(result.parts["corner"][name]["delta"] - sum(counts)) <= 0.002 * x.shape[1]
        assert result.dimensions[name] == x.shape[1]
    assert result.random == {}
