"""`data_record`: the one JSON record of what data was read, for every command, analysis and
experiment that writes one (`run.json`, `report.json`, `transfer.json`, ...)."""

from __future__ import annotations

from typing import Sequence

from zfnet_tf.data.catalog import DataSource
from zfnet_tf.data.checks import SkippedFile


def data_record(
    source: DataSource | str,
    num_examples: int | None,
    origin: str = "",
    skipped: Sequence[SkippedFile] = (),
    excluded: int = 0,
    unmatched_exclusions: Sequence[str] = (),
) -> dict:
    """The JSON record of the data read.

    Args:
        source: the `DataSource` the data layer read; or, for images given directly, what
            they were ("arrays", "tf.data.Dataset"): then the record is that and their number.
        num_examples: how many examples (None when unknown).
        origin: where the data layer read them from, for people (a folder, `tfds:caltech101`).
        skipped: listed files left out because they are not readable images.
        excluded: how many images the exclude list removed.
        unmatched_exclusions: exclude-list entries that named no image.
    """
    if not isinstance(source, DataSource):
        return {"source": source, "num_examples": num_examples}
    return {
        "source": f"{source.name}[{source.split}]",
        "num_examples": num_examples,
        "dataset": source.name,
        "split": source.split,
        "data_dir": source.data_dir,
        "origin": origin,
        "excluded_images": excluded,
        "unmatched_exclusions": list(unmatched_exclusions),
        "skipped_files": len(skipped),
        "skipped": [s.to_json() for s in skipped],
    }
