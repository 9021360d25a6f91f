"""Is a figure readable at a paper's width? Checks on the matplotlib figure a study's
`figure` job draws (alignshift.figures.build from the study's metrics and model tables)."""

from __future__ import annotations

from pathlib import Path

from alignshift.figures import build, input_paths
from alignshift.figures.style import MIN_FONT, TWO_COLUMNS, close, texts


def print_sizes(fig) -> list[tuple[str, float]]:
    """(text, size in points when the figure is printed `TWO_COLUMNS` inches wide)."""
    scale = TWO_COLUMNS / fig.get_figwidth()
    return [(t.get_text(), t.get_fontsize() * scale) for t in texts(fig)]


def overlapping_texts(fig) -> list[tuple[str, str]]:
    """Pairs of texts whose drawn bounding boxes overlap (a tick label under a title, two
    marks on one another); texts in one table cell grid never share a box."""
    renderer = fig.canvas.get_renderer()
    fig.draw_without_rendering()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts(fig)]
    found = []
    for i, (a, box_a) in enumerate(boxes):
        for b, box_b in boxes[i + 1:]:
            # touching edges are not an overlap: a glyph's box includes its line spacing
            if box_a.overlaps(box_b) and min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0) > 0.5 \
                    and min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0) > 0.5:
                found.append((a, b))
    return found


def outside_cells(fig) -> list[str]:
    """Table cells whose text runs past the cell's edges (into a neighbouring cell, or
    under it: a cell drawn after another covers the text that overflows into it)."""
    import matplotlib.table

    renderer = fig.canvas.get_renderer()
    fig.draw_without_rendering()
    found = []
    for table in fig.findobj(matplotlib.table.Table):
        for cell in table.get_celld().values():
            text, box = cell.get_text(), cell.get_window_extent(renderer)
            if text.get_visible() and text.get_text().strip():
                inner = text.get_window_extent(renderer)
                if inner.x0 < box.x0 - 1 or inner.x1 > box.x1 + 1 or inner.y0 < box.y0 - 1 or inner.y1 > box.y1 + 1:
                    found.append(text.get_text())
    return found


def outside_canvas(fig) -> list[str]:
    """Texts drawn (partly) outside the saved canvas: cut off in print."""
    renderer = fig.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    return [t.get_text() for t in texts(fig)
            if (box := t.get_window_extent(renderer)).x0 < -1 or box.y0 < -1 or box.x1 > width + 1
            or box.y1 > height + 1]


def paper_problems(workdir: Path, name: str) -> list[str]:
    """What keeps figure `name` of the finished study in `workdir` from a paper's page."""
    tables = {t: str(workdir / path) for t, path in input_paths(name).items()}
    fig = build(name, tables, str(workdir / "results" / "models.csv"))
    try:
        problems = [f"{name}: {fig.get_figwidth():.2f} in wide, more than two columns"] \
            if fig.get_figwidth() > TWO_COLUMNS + 1e-6 else []
        problems += [f"{name}: {text!r} at {size:.1f} pt" for text, size in print_sizes(fig) if size < MIN_FONT - 1e-6]
        problems += [f"{name}: {a!r} overlaps {b!r}" for a, b in overlapping_texts(fig)]
        problems += [f"{name}: {t!r} outside the figure" for t in outside_canvas(fig)]
        problems += [f"{name}: {t[:40]!r}... runs past its table cell" for t in outside_cells(fig)]
        return problems
    finally:
        close(fig)


def assert_paper_ready(workdir: Path, names) -> None:
    problems = [p for name in names for p in paper_problems(workdir, name)]
    assert not problems, "\n".join(problems)
