"""Fig. 9 (accuracy against training images per class) and the VOC per-class AP figure
(plotting only, no computation)."""

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
    def draw(method: str, points: list[tuple[int, float, float]], label: str, **style) -> None:
        colour, marker = METHOD_STYLES.get(method, ("tab:gray", "d"))
        points = sorted(points)
        axis.errorbar([p[0] for p in points], [p[1] for p in points], yerr=[p[2] for p in points],
                      color=colour, marker=marker, capsize=3, label=label, **style)

    for method, result in methods.items():
        draw(method, [(int(n), r["mean"], r["std"]) for n, r in result["by_train_per_class"].items()],
             result["label"])
    for method, numbers in (paper or {}).items():
        label = methods[method]["label"] if method in methods else method
        draw(method, [(int(n), v[0], v[1] or 0.0) for n, v in numbers.items()], f"paper: {label}",
             markerfacecolor="none", linestyle="--")
    axis.set_xticks(sizes)
    axis.set_xlabel("training images per class")
    axis.set_ylabel("mean per-class accuracy (%)")
    axis.set_ylim(0, 100)
    axis.set_title(title, fontsize=10)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    return figure


HEAD_COLOURS = {"softmax": "tab:blue", "logistic": "tab:orange"}


def average_precision_figure(summary: Mapping) -> Figure:
    """VOC 2012 (Table 6): average precision per class, a bar per head, each head's mean and
    the paper's 79.0 as lines (`summary`: the VOC result's JSON)."""
    heads = list(summary["heads"])
    classes = list(summary["class_names"])
    figure = Figure(figsize=(8.0, 4.2))
    axis = figure.subplots()
    width = 0.8 / len(heads)
    for k, head in enumerate(heads):
        values = [summary["heads"][head]["per_class_ap"][c] for c in classes]
        positions = [i + (k - (len(heads) - 1) / 2) * width for i in range(len(classes))]
        colour = HEAD_COLOURS.get(head, "tab:gray")
        axis.bar(positions, [0.0 if v is None else v for v in values], width, color=colour,
                 label=f"{head} (mean {summary['heads'][head]['mean_ap']:.1f})")
        axis.axhline(summary["heads"][head]["mean_ap"], color=colour, linewidth=1)
    axis.axhline(summary["paper_mean_ap"], color="black", linestyle="--", linewidth=1,
                 label=f"paper v3 mean ({summary['paper_mean_ap']:.1f})")
    axis.set_xticks(range(len(classes)))
    axis.set_xticklabels(classes, rotation=60, ha="right", fontsize=8)
    axis.set_ylabel("average precision (%)")
    axis.set_ylim(0, 100)
    axis.set_title(f"PASCAL VOC 2012 {summary['test_split']}: AP per class ({summary['feature_layer']} features)", fontsize=10)
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    return figure
