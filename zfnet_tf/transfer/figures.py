"""Fig. 9: accuracy against training images per class (plotting only, no computation)."""

from __future__ import annotations

from typing import Mapping

from matplotlib.figure import Figure

# One colour per method; the paper's numbers use the same colour, hollow markers, dashed.
METHOD_STYLES = {
    "softmax": ("tab:blue", "o"),
    "scratch": ("tab:red", "s"),
    "finetune": ("tab:green", "^"),
}


def accuracy_figure(
    methods: Mapping[str, Mapping],
    title: str,
    paper: Mapping[str, Mapping[str, tuple]] | None = None,
) -> Figure:
    """Mean accuracy ± std (over splits) against training images per class.

    Args:
        methods: `{method: {"label": str, "by_train_per_class": {"15": {"mean", "std"}}}}`,
            accuracies in percent (the results JSON's "methods").
        title: the figure's title.
        paper: optional `{method: {"15": (mean, std or None)}}` drawn for comparison.
    """
    figure = Figure(figsize=(5.5, 4.0))
    axis = figure.subplots()
    sizes = sorted({int(n) for r in methods.values() for n in r["by_train_per_class"]})
    for method, result in methods.items():
        colour, marker = METHOD_STYLES.get(method, ("tab:gray", "d"))
        points = sorted((int(n), r["mean"], r["std"]) for n, r in result["by_train_per_class"].items())
        axis.errorbar(
            [p[0] for p in points],
            [p[1] for p in points],
            yerr=[p[2] for p in points],
            color=colour,
            marker=marker,
            capsize=3,
            label=result["label"],
        )
    for method, numbers in (paper or {}).items():
        colour, marker = METHOD_STYLES.get(method, ("tab:gray", "d"))
        points = sorted((int(n), v[0], v[1] or 0.0) for n, v in numbers.items())
        axis.errorbar(
            [p[0] for p in points],
            [p[1] for p in points],
            yerr=[p[2] for p in points],
            color=colour,
            marker=marker,
            markerfacecolor="none",
            linestyle="--",
            capsize=3,
            label=f"paper: {methods[method]['label'] if method in methods else method}",
        )
    axis.set_xticks(sizes)
    axis.set_xlabel("training images per class")
    axis.set_ylabel("mean per-class accuracy (%)")
    axis.set_ylim(0, 100)
    axis.set_title(title, fontsize=10)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    return figure
