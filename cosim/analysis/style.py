"""One look for every cosim figure: fixed method colours, byte axes, PNG+PDF output.

A method keeps its colour and marker in ``cosim run``, ``cosim study`` and
``cosim plot`` (the Okabe–Ito colour-blind-safe palette), whatever order the
runs come in. Figures are written as PNG (screens) and PDF (papers), and
matplotlib's own warnings never reach the user.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

FORMATS: tuple[str, ...] = ("png", "pdf")


@dataclass(frozen=True)
class MethodStyle:
    """Colour and marker of one method."""

    color: str
    marker: str


#: Okabe & Ito (2008) palette; the order is the methods' order in DESIGN.md.
METHOD_STYLES: dict[str, MethodStyle] = {
    "fd_full": MethodStyle("#0072B2", "s"),
    "fd_topk": MethodStyle("#E69F00", "^"),
    "adaptive": MethodStyle("#D55E00", "o"),
    "fedavg_lora": MethodStyle("#009E73", "D"),
    "local_only": MethodStyle("#CC79A7", "v"),
}
_SPARE = (MethodStyle("#56B4E9", "P"), MethodStyle("#000000", "X"),
          MethodStyle("#F0E442", "*"), MethodStyle("#999999", "h"))


def method_style(method: str) -> MethodStyle:
    """The fixed style of ``method`` (an unknown name gets a stable spare style)."""
    if method in METHOD_STYLES:
        return METHOD_STYLES[method]
    digest = int(hashlib.sha256(method.encode()).hexdigest(), 16)
    return _SPARE[digest % len(_SPARE)]


def method_rank(method: str) -> int:
    """Legend order: the known methods first, in :data:`METHOD_STYLES` order."""
    order = list(METHOD_STYLES)
    return order.index(method) if method in order else len(order)


def format_bytes(value: float, _pos: object = None) -> str:
    """``1500`` → ``"1.5 kB"`` (SI prefixes, as used for data volumes)."""
    if value <= 0:
        return "0 B"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            text = f"{value:.3g}"
            return f"{text} {unit}"
        value /= 1000
    return f"{value:.3g} TB"


def log_bytes_axis(ax: Axes, axis: str = "x") -> None:
    """Log scale with readable byte ticks; call after the data is drawn.

    Data spanning under three decades gets labelled ticks at 1, 2 and 5 per
    decade (a single-decade axis would otherwise show one label); wider data
    one label per decade. Minor ticks stay unlabelled.
    """
    target = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    low, high = ax.dataLim.intervalx if axis == "x" else ax.dataLim.intervaly
    decades = np.log10(high / low) if low > 0 and high > low else 1.0
    subs = (1.0, 2.0, 5.0) if decades < 3 else (1.0,)
    target.set_major_locator(LogLocator(base=10, subs=subs, numticks=30))
    target.set_major_formatter(FuncFormatter(format_bytes))
    target.set_minor_locator(LogLocator(base=10, subs=tuple(range(2, 10)), numticks=30))
    target.set_minor_formatter(NullFormatter())


def fraction_axis(ax: Axes, low: float, high: float, min_span: float = 0.05) -> None:
    """A [0, 1] quantity's y range: the data with a margin, never a ±0.001 zoom.

    The span is at least ``min_span`` and stays inside [0, 1]; no offset text.
    """
    if not (low <= high):  # NaN or empty
        low, high = 0.0, 1.0
    centre = (low + high) / 2.0
    half = max((high - low) * 0.55, min_span / 2.0)
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    if hi - lo < min_span:  # clipped at an end: extend on the other side
        lo, hi = (0.0, min_span) if lo == 0.0 else (1.0 - min_span, 1.0)
    ax.set_ylim(lo, hi)
    ax.ticklabel_format(axis="y", useOffset=False, style="plain")


def save_figure(fig: plt.Figure, stem: Path) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf``; closes the figure."""
    paths = []
    try:
        fig.tight_layout()
        for ext in FORMATS:
            path = stem.with_name(f"{stem.name}.{ext}")
            fig.savefig(path, dpi=150)
            paths.append(path)
    finally:
        plt.close(fig)
    return paths


@contextmanager
def quiet_matplotlib() -> Iterator[None]:
    """Keep matplotlib's and numpy's warnings (empty slices, tight_layout) off the console."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
