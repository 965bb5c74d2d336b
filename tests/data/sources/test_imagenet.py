"""The ImageNet-1k class file shipped in the package, against tensorflow-datasets' label order."""

import tensorflow_datasets as tfds

from zfnet_tf.data import imagenet_classes


def test_1000_classes_in_tfds_imagenet2012_order(tmp_path):
    classes = imagenet_classes()
    assert len(classes.wordnet_ids) == len(classes.names) == 1000
    assert len(set(classes.wordnet_ids)) == 1000
    assert len(set(classes.names)) == 1000  # names answer requests: none may be ambiguous
    # The labels of tensorflow-datasets' imagenet2012 (what `evaluate --dataset imagenet2012`
    # scores against), read from its builder: no data needed.
    builder = tfds.builder("imagenet2012", data_dir=str(tmp_path))
    assert list(classes.wordnet_ids) == builder.info.features["label"].names


def test_names_of_well_known_classes():
    ids, names = imagenet_classes()
    expected = {
        0: ("n01440764", "tench"),
        1: ("n01443537", "goldfish"),
        281: ("n02123045", "tabby"),
        285: ("n02124075", "Egyptian cat"),
        999: ("n15075141", "toilet tissue"),
    }
    for index, pair in expected.items():
        assert (ids[index], names[index]) == pair
