"""The catalog: the dataset names come from the sources' registry, and neither it nor checking
a `DataSource` of any dataset loads TensorFlow."""

import subprocess
import sys

import pytest

from zfnet_tf.data import DATASETS, POOLED_DATASETS, SOURCES, DataSource, get_source


def test_importing_the_catalog_and_checking_sources_loads_no_tensorflow(tmp_path):
    code = (
        "import sys\n"
        "from zfnet_tf.data.catalog import DATASETS, DataSource\n"
        "from zfnet_tf.data.sources import class_names\n"
        f"for name, data_dir in [('digits', None), ('folder', {str(tmp_path)!r}), ('caltech256', {str(tmp_path)!r}),\n"
        "                        ('imagenet2012', None), ('voc2012', None)]:\n"
        "    DataSource(name, data_dir, split='train')\n"
        "assert class_names(DataSource('voc2012'))[0] == 'aeroplane'\n"
        "assert class_names(DataSource('imagenet2012'))[281] == 'tabby'\n"
        "print(len(DATASETS), sorted(m for m in ('tensorflow', 'tensorflow_datasets', 'keras') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{len(DATASETS)} []"


def test_every_name_is_one_registered_source():
    assert DATASETS == ("digits", "folder", "caltech101", "caltech256", "imagenet2012", "voc2012")
    assert tuple(SOURCES) == DATASETS and all(SOURCES[name].name == name for name in DATASETS)
    assert POOLED_DATASETS == tuple(name for name in DATASETS if name != "imagenet2012")
    with pytest.raises(ValueError, match=r"unknown dataset 'mnist'; choose one of \('digits'"):
        get_source("mnist")


@pytest.mark.parametrize("name, options, message", [
    ("digits", {"data_dir": "x"}, "dataset 'digits' is embedded: it takes no data_dir"),
    ("folder", {}, "dataset 'folder' needs data_dir: a folder of class sub-folders"),
    ("caltech256", {}, "dataset 'caltech256' needs data_dir: a 256_ObjectCategories/ folder or its parent"),
    ("caltech256", {"data_dir": "x", "include_background": True}, "include_background does not apply to 'caltech256'"),
    ("imagenet2012", {"exclude_file": "x.txt"}, "an exclude file does not apply to 'imagenet2012'"),
    ("imagenet2012", {"split": "all"}, "dataset 'imagenet2012' has no split 'all'"),
])
def test_each_source_says_what_a_data_source_of_it_cannot_ask(name, options, message):
    with pytest.raises(ValueError, match=message):
        DataSource(name, **options)


def test_paths_are_expanded():
    source = DataSource("folder", "~/photos", exclude_file="~/leave_out.txt")
    assert not source.data_dir.startswith("~") and source.data_dir.endswith("photos")
    assert not source.exclude_file.startswith("~") and source.exclude_file.endswith("leave_out.txt")


def test_the_sources_leave_reading_tensorflow_to_the_modules_that_read():
    """The catalog and every source module hold no TensorFlow import, not even in a function
    (outside `if TYPE_CHECKING:`): TFDS is read in `zfnet_tf.data.tfds`, images decode in
    `zfnet_tf.data.collection`."""
    import ast
    import pathlib

    import zfnet_tf.data.sources as sources

    heavy = ("tensorflow", "tensorflow_datasets", "keras")
    files = [pathlib.Path(sources.__file__).parent.parent / "catalog.py", *pathlib.Path(sources.__file__).parent.glob("*.py")]
    assert len(files) == 8
    for path in files:
        tree = ast.parse(path.read_text())
        type_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                     and ast.unparse(block.test) == "TYPE_CHECKING" for node in ast.walk(block)}
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not [n for n in names if n.split(".")[0] in heavy], f"{path.name}:{node.lineno} imports {names}"
