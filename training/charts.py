"""The one way to draw a chart: matplotlib's object API (no pyplot state), written as SVG or PNG.

Used by the staff dashboard and the live training view (SVG, server-side, no JavaScript or CDN)
and by the benchmarks (PNG files for docs/). Every chart states the numbers it was given: bars
carry their value, a line labels its points (its last point when it has many), and the SVG's
`<desc>` lists every series in plain text for screen readers and tests.

    chart = Chart("Edit rate").line({"v1": [(x, 0.5), ...]}, ylabel="%", fmt="{:.0%}")
    svg_bytes = chart.svg()          # a standalone image/svg+xml document
    html = chart.inline_svg()        # the <svg> element alone, for a template
    chart.save(Path("out/curve.png"))
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

LABEL_ALL_POINTS = 12  # lines with at most this many points label every point, longer ones their last


def _matplotlib() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    return matplotlib


class Chart:
    """One figure of `panels` side-by-side axes; add lines or bars to a panel, then write it."""

    def __init__(self, title: str = "", *, panels: int = 1, size: tuple[float, float] | None = None) -> None:
        _matplotlib()
        from matplotlib.figure import Figure

        self.title = title
        self.figure = Figure(figsize=size or (6.4 * panels, 3.2), layout="constrained")
        self.axes = [self.figure.add_subplot(1, panels, i + 1) for i in range(panels)]
        if title and panels > 1:
            self.figure.suptitle(title)
        elif title:
            self.axes[0].set_title(title)
        self.description: list[str] = []

    def _panel(self, panel: int, title: str, xlabel: str, ylabel: str, ylim: tuple[float, float] | None) -> Any:
        ax = self.axes[panel]
        if title:
            ax.set_title(title)
        if xlabel:
            ax.set_xlabel(xlabel)
        if ylabel:
            ax.set_ylabel(ylabel)
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.grid(alpha=0.3)
        return ax

    def line(
        self,
        series: Mapping[str, Sequence[tuple[Any, float]]],
        *,
        panel: int = 0,
        title: str = "",
        xlabel: str = "",
        ylabel: str = "",
        ylim: tuple[float, float] | None = None,
        fmt: str = "{:.3g}",
        empty: str = "no data yet",
        smooth: int = 0,
        dates: bool = False,
    ) -> Chart:
        """One line per series of (x, y) points; `smooth` > 1 overlays a trailing mean of that width."""
        ax = self._panel(panel, title, xlabel, ylabel, ylim)
        drawn = {label: list(points) for label, points in series.items() if points}
        for label, points in drawn.items():
            xs, ys = [p[0] for p in points], [float(p[1]) for p in points]
            if smooth > 1 and len(ys) >= smooth:
                means = [sum(ys[i - smooth + 1 : i + 1]) / smooth for i in range(smooth - 1, len(ys))]
                ax.plot(xs, ys, alpha=0.35)
                ax.plot(xs[smooth - 1 :], means, label=f"{label} ({smooth}-point mean)")
            else:
                ax.plot(xs, ys, marker="o", label=label)
            shown = range(len(ys)) if len(ys) <= LABEL_ALL_POINTS else [len(ys) - 1]
            for i in shown:
                ax.annotate(fmt.format(ys[i]), (xs[i], ys[i]), textcoords="offset points", xytext=(0, 5),
                            ha="center", fontsize="x-small")  # fmt: skip
            self._describe(title, label, [f"{_plain(x)}: {fmt.format(y)}" for x, y in zip(xs, ys, strict=True)])
        if len(drawn) > 1 or (drawn and smooth > 1):
            ax.legend(fontsize="small")
        if not drawn:
            ax.text(0.5, 0.5, empty, ha="center", va="center", transform=ax.transAxes)
            self._describe(title, "", [empty])
        if dates:
            self.figure.autofmt_xdate()
        return self

    def bars(
        self,
        categories: Sequence[str],
        groups: Mapping[str, Sequence[float]],
        *,
        panel: int = 0,
        title: str = "",
        ylabel: str = "",
        ylim: tuple[float, float] | None = None,
        fmt: str = "{:.2f}",
        errors: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
        legend: bool = True,
    ) -> Chart:
        """Grouped bars: one bar per (category, group), each labelled with its value.
        `errors[group]` = (lows, highs): absolute interval ends drawn as error bars."""
        ax = self._panel(panel, title, "", ylabel, ylim)
        width = 0.8 / max(len(groups), 1)
        positions = list(range(len(categories)))
        for i, (label, values) in enumerate(groups.items()):
            values = [float(v) for v in values]
            yerr = None
            if errors and label in errors:
                lows, highs = errors[label]
                yerr = [[max(v - lo, 0.0) for v, lo in zip(values, lows, strict=True)],
                        [max(hi - v, 0.0) for v, hi in zip(values, highs, strict=True)]]  # fmt: skip
            bars = ax.bar([p + i * width for p in positions], values, width, yerr=yerr, capsize=2, label=label)
            ax.bar_label(bars, labels=[fmt.format(v) for v in values], fontsize="x-small")
            self._describe(title, label, [f"{c}: {fmt.format(v)}" for c, v in zip(categories, values, strict=True)])
        ax.set_xticks([p + width * (len(groups) - 1) / 2 for p in positions], list(categories))
        ax.grid(axis="x", visible=False)
        if legend and len(groups) > 1:
            ax.legend(fontsize="x-small", loc="upper left")
        return self

    def _describe(self, panel: str, label: str, values: list[str]) -> None:
        head = " - ".join(part for part in (panel, label) if part)
        self.description.append(f"{head}: {'; '.join(values)}" if head else "; ".join(values))

    # --- output ---------------------------------------------------------------------------------
    def svg(self) -> bytes:
        """A standalone SVG document with real <text> (searchable, accessible) and a <desc> of the data."""
        matplotlib = _matplotlib()
        buffer = io.BytesIO()
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"chart:{self.title}"}):
            self.figure.savefig(buffer, format="svg")
        text = buffer.getvalue().decode()
        accessible = f"<title>{escape(self.title)}</title><desc>{escape(' | '.join(self.description))}</desc>"
        text = re.sub(r"(<svg\b[^>]*>)", lambda m: m.group(1) + accessible, text, count=1)
        return text.encode()

    def inline_svg(self) -> str:
        """The <svg> element alone (no XML prolog or doctype), to place inside an HTML page."""
        text = self.svg().decode()
        return text[text.index("<svg") :]

    def save(self, path: Path | str, *, dpi: int = 90) -> Path:
        """Write the chart; the suffix (.png or .svg) picks the format."""
        path = Path(path)
        if path.suffix == ".svg":
            path.write_bytes(self.svg())
        else:
            self.figure.savefig(path, dpi=dpi)
        return path


def _plain(x: Any) -> str:
    return x.strftime("%Y-%m-%d") if hasattr(x, "strftime") else str(x)
