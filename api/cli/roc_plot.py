"""The ROC curve of a verification run as a PNG; matplotlib is imported only when a plot is asked for."""

from __future__ import annotations

from pathlib import Path

from recognition import OperatingPoint, RocCurve


def write_roc_png(roc: RocCurve, path: Path, *, title: str, operating_point: OperatingPoint) -> None:
    """Plot TAR against FAR (log scale; FAR 0 cannot be drawn there) and mark the operating point.

    Raises:
        OSError: the file cannot be written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.0, 4.5), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    drawable = roc.far > 0
    axes.plot(roc.far[drawable], roc.tar[drawable], linewidth=1.5, label="ROC")
    axes.scatter(
        [max(operating_point.far, operating_point.far_target)],
        [operating_point.tar],
        color="red",
        zorder=3,
        label=f"TAR {operating_point.tar:.4f} at FAR ≤ {operating_point.far_target:g}",
    )
    axes.set_xscale("log")
    axes.set_xlabel("false accept rate")
    axes.set_ylabel("true accept rate")
    axes.set_title(title)
    axes.grid(visible=True, which="both", alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, format="png")
