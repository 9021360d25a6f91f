"""How every figure looks: sizes for a paper's columns, fonts that stay legible at print
size, colours per run, lab and stage, significance marks, and the one grouped-bar plot.

A figure is drawn at the width it is printed at (`ONE_COLUMN` or `TWO_COLUMNS` inches),
so a font's size in points is its printed size: nothing is drawn below `MIN_FONT`."""

from __future__ import annotations

import contextlib
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ONE_COLUMN = 3.5  # inches, a paper's single column
TWO_COLUMNS = 7.0  # inches, the full text width
DPI = 300
MIN_FONT = 7.0  # points at print size
FONT = 8.0  # body text: axis titles, panel titles
SMALL = MIN_FONT  # tick labels, legends, numbers in cells

RC = {
    "font.size": FONT, "axes.titlesize": FONT, "axes.labelsize": FONT, "figure.titlesize": FONT + 1,
    "xtick.labelsize": SMALL, "ytick.labelsize": SMALL, "legend.fontsize": SMALL, "legend.title_fontsize": SMALL,
    "figure.labelsize": FONT, "axes.titlepad": 4, "savefig.dpi": DPI, "pdf.fonttype": 42,
}


@contextlib.contextmanager
def context():
    with plt.rc_context(RC):
        yield


def figure(rows: int = 1, cols: int = 1, *, height: float, width: float = TWO_COLUMNS, **kw):
    """A figure `width` inches wide (a paper's two columns unless given) with a grid of
    axes; constrained layout keeps labels from overlapping."""
    kw.setdefault("layout", "constrained")
    return plt.subplots(rows, cols, figsize=(width, height), **kw)


def save(fig, path: str) -> None:
    fig.savefig(path, dpi=DPI)


def close(fig) -> None:
    plt.close(fig)


# ---- colours -------------------------------------------------------------------------

STAGE_COLOURS = {"base": "#7f7f7f", "sft": "#1f77b4", "pt": "#d62728", "rm": "#2ca02c"}
STAGE_NAMES = {"base": "base", "sft": "SFT", "pt": "preference-tuned", "rm": "reward model"}
# a base model beside what post-training made of it
BASE, POST = STAGE_COLOURS["base"], STAGE_COLOURS["pt"]


def colours(n: int) -> list:
    """n distinct colours (runs, models, languages): tab10's, tab20's beyond ten."""
    palette = plt.get_cmap("tab10" if n <= 10 else "tab20").colors
    return [palette[i % len(palette)] for i in range(n)]


def lab_colours(labs) -> dict:
    """A colour per lab, in the order the labs are first named."""
    labs = list(dict.fromkeys(labs))
    return dict(zip(labs, colours(len(labs))))


# ---- significance ----------------------------------------------------------------------

ALPHA = 0.05
MARK = "*"


def significant(p) -> bool:
    return bool(pd.notna(p) and p < ALPHA)


def marks(p_values) -> list[str]:
    """`MARK` where a (Benjamini-Hochberg adjusted) p-value is below `ALPHA`."""
    return [MARK if significant(p) else "" for p in p_values]


def excludes_zero(low, high) -> bool:
    return bool(low > 0 or high < 0)


# ---- the grouped bar plot --------------------------------------------------------------

def bars(ax, table: pd.DataFrame, group: str, hue: str, hues: list, value: str, *, low: str = "ci_low",
         high: str = "ci_high", labels: dict | None = None, p_value: str | None = None, palette=None):
    """One bar per (group, hue) with its 95% CI: groups along x in table order, hues side
    by side (`labels`: hue -> legend text). With `p_value`, a significant bar gets `MARK`
    beyond its interval's outer end (above a rising bar, below a falling one), so the
    mark never sits on a bar or its whisker."""
    groups = list(dict.fromkeys(table[group]))
    width = 0.8 / max(len(hues), 1)
    palette = palette or colours(len(hues))
    marked = []
    for i, h in enumerate(hues):
        part = table[table[hue] == h].set_index(group).reindex(groups)
        pos = np.arange(len(groups)) + (i - (len(hues) - 1) / 2) * width
        centre = part[value].to_numpy(dtype=float)
        err = np.abs(part[[low, high]].to_numpy(dtype=float).T - centre)
        ax.bar(pos, centre, width, yerr=err, color=palette[i], label=(labels or {}).get(h, str(h)), capsize=1,
               error_kw={"elinewidth": 0.5, "capthick": 0.5})
        if p_value and p_value in part:
            for x, y, lo, hi, mark in zip(pos, centre, part[low], part[high], marks(part[p_value])):
                if mark:
                    marked.append((x, hi if y >= 0 else lo, y >= 0))
    for x, end, up in marked:
        ax.annotate(MARK, (x, end), textcoords="offset points", xytext=(0, 1 if up else -1), ha="center",
                    va="bottom" if up else "top", fontsize=SMALL)
    if marked:
        ax.margins(y=0.12)
    ax.set_xticks(np.arange(len(groups)), groups)
    ax.axhline(0, color="grey", lw=0.6)


def legend_below(fig, *, title: str | None = None, ncol: int | None = None, **kw):
    """One legend of every panel's marks (each name once), under the figure, so the
    panels keep their space and no legend covers a mark."""
    found = {}
    for ax in fig.axes:
        for handle, name in zip(*ax.get_legend_handles_labels()):
            found.setdefault(name, handle)
    handles, names = list(found.values()), list(found)
    if handles:
        fig.legend(handles, names, loc="outside lower center", title=title,
                   ncol=ncol or min(len(handles), 4), frameon=False, **kw)


def xlabel(axes, text: str) -> None:
    """`text` under each panel with no visible panel below it (a figure-wide label would
    collide with the legend under the figure)."""
    grid = np.atleast_2d(axes)
    for j in range(grid.shape[1]):
        shown = [ax for ax in grid[:, j] if ax.get_visible()]
        if shown:
            shown[-1].set_xlabel(text)
            shown[-1].tick_params(axis="x", labelbottom=True)  # shared axes label only the bottom row


def wrap(text: str, width: int = 38, limit: int = 320) -> str:
    """Model text as a figure can show it: whitespace runs as one space, control
    characters as escapes (\\x1b), `$` literal (not mathtext), cut at `limit`."""
    from ..tables import displayable

    text = displayable(" ".join(str(text).split()))
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return "\n".join(textwrap.wrap(text, width)).replace("$", r"\$") or "(empty)"


LINE = 1.2  # matplotlib's line spacing, in font sizes


def text_width(line: str, size: float = SMALL) -> float:
    """A line's drawn width in points at `size` points (the figures' font)."""
    import warnings

    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    with warnings.catch_warnings():  # a glyph the font lacks: drawn as a box, warned of when drawn
        warnings.simplefilter("ignore", UserWarning)
        return text_to_path.get_text_width_height_descent(line, FontProperties(size=size), ismath=False)[0]


def wrap_to(text: str, inches: float, size: float = SMALL, limit: int = 320) -> str:
    """`wrap` at the most characters per line that keep every line within `inches` at
    `size` points, measured in the figures' font (a count of characters alone overflows
    a narrow column with wide glyphs: digits, capitals)."""
    chars = max(int(inches * 72 / (0.45 * size)), 4)
    while True:
        wrapped = wrap(text, chars, limit)
        if chars <= 4 or max(text_width(line, size) for line in wrapped.split("\n")) <= inches * 72:
            return wrapped
        chars -= 1


def empty(fig, axes, text):
    """Panels with nothing to show say so."""
    for ax in np.atleast_1d(axes).ravel():
        ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
        ax.axis("off")
    return fig


# ---- labels on points ------------------------------------------------------------------

OPTIONAL = "optional-label"


def optional(text):
    """Mark a label on a data point as one to leave out where it would overlap other
    text (a step number on a crowded path): `prune_overlaps` removes it then."""
    text.set_gid(OPTIONAL)
    return text


def texts(fig) -> list:
    """Every text a figure draws (titles, axis labels, legends, annotations, table cells,
    and the tick labels of the ticks inside the view: matplotlib keeps others unseen)."""
    ticks = set()
    drawn = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                ticks |= {tick.label1, tick.label2}
            if not ax.axison:  # a map's panel: no axes drawn, nor their labels
                ticks.add(axis.label)
            elif ax.get_visible() and axis.get_visible():
                drawn += [label for tick in axis._update_ticks() for label in (tick.label1, tick.label2)]
    found = [t for t in fig.findobj(matplotlib.text.Text) if t not in ticks] + drawn
    return [t for t in found if t.get_visible() and t.get_text().strip() and (t.axes is None or t.axes.get_visible())]


def prune_overlaps(fig) -> None:
    """Remove optional point labels that overlap any text drawn before them."""
    renderer = fig.canvas.get_renderer()
    fig.draw_without_rendering()
    kept = [t.get_window_extent(renderer) for t in texts(fig) if t.get_gid() != OPTIONAL]
    for text in [t for t in texts(fig) if t.get_gid() == OPTIONAL]:
        box = text.get_window_extent(renderer)
        if any(box.overlaps(other) for other in kept):
            text.set_visible(False)
        else:
            kept.append(box)
