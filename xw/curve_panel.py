"""The report's training-curves panel: one small loss plot per trained cell, diverged ones in red, and a link
to each cell's curves folder.

A gain is a difference of means; one training whose loss went up hides in it. Small multiples make such a
cell visible at a glance, and the link (a path relative to the report, for ``tensorboard --logdir``) opens
its full curve. Apart from xw.report because it is its own concept (which cells trained, where their curves
are, how to draw many at once) and keeps the report short.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from xw.cells import Cell
from xw.checkpoints import intermediate_dir
from xw.layout import target_curves
from xw.params import NONE, Study
from xw.tracking import SUMMARY, diverged, read_loss_sketch, read_summary

MAX_PANELS = 96  # more small plots than this are unreadable and slow to draw; the table still lists every cell
COLUMNS = 6
DIVERGED_COLOUR, OK_COLOUR = "#d62728", "#1f77b4"


@dataclass(frozen=True)
class CellCurve:
    """One trained cell's loss curve, where it lives, and whether it went down."""

    cell: Cell
    folder: Path
    steps: tuple[int, ...]
    losses: tuple[float, ...]
    initial: float
    final: float
    diverged: bool

    @property
    def label(self) -> str:
        """scale/intermediate/target/seed (phase ii: no target), as in the report header's diverged notice."""
        parts = [self.cell.scale, self.cell.intermediate, *([self.cell.target] if self.cell.target else []),
                 f"seed{self.cell.seed}"]
        return "/".join(parts)

    @property
    def title(self) -> str:
        """Two short lines for a small panel: what trained, then the seed (and DIVERGED)."""
        head, _, seed = self.label.rpartition("/")
        return f"{head}<br>{seed}" + (" · DIVERGED" if self.diverged else "")


def curves_folder(study: Study, cell: Cell) -> Path | None:
    """Where the cell's training wrote its curve: a target cell under the study's curves/, an intermediate
    cell in its checkpoint (shared by every study using it); None for the untrained baseline."""
    if cell.kind == "target" and cell.target:
        return target_curves(study, cell.scale, cell.intermediate, cell.target, cell.seed)
    if cell.intermediate == NONE:
        return None
    return intermediate_dir(study, study.scale(cell.scale), cell.intermediate, cell.seed) / "curves"


def cell_curves(study: Study, cells: Iterable[Cell]) -> list[CellCurve]:
    """Every cell among ``cells`` that logged a loss, in the given order (a failed cell's partial curve too)."""
    found = []
    for cell in cells:
        folder = curves_folder(study, cell)
        if folder is None or not folder.is_dir():
            continue
        steps, losses = read_loss_sketch(folder)  # thinned to xw.tracking.SKETCH_POINTS steps
        if not losses:
            continue
        summary = read_summary(folder) if (folder / SUMMARY).is_file() else {}
        window = max(1, len(losses) // 10)
        final = summary.get("train_final_loss")
        flag = summary.get("train_diverged")
        found.append(CellCurve(cell, folder, tuple(steps), tuple(losses), initial=losses[0],
                               final=float(final) if final is not None else sum(losses[-window:]) / window,
                               diverged=bool(flag) if flag is not None else diverged(losses)))
    return found


def panel_figure(curves: list[CellCurve]):
    """Small multiples of the loss per step (diverged cells first, in red), at most MAX_PANELS of them."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    shown = sorted(curves, key=lambda c: not c.diverged)[:MAX_PANELS]  # stable: grid order within each group
    columns = min(COLUMNS, len(shown))
    rows = math.ceil(len(shown) / columns)
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=[c.title for c in shown], horizontal_spacing=0.045,
                        vertical_spacing=min(0.15, 0.6 / rows))
    for i, curve in enumerate(shown):
        colour = DIVERGED_COLOUR if curve.diverged else OK_COLOUR
        where = {"row": i // columns + 1, "col": i % columns + 1}
        fig.add_trace(go.Scatter(x=list(curve.steps), y=list(curve.losses), mode="lines", name=curve.label,
                                 line={"color": colour, "width": 1.5},
                                 hovertemplate="step %{x}<br>loss %{y:.4f}<extra>" + html.escape(curve.label)
                                 + "</extra>"), **where)
        if curve.diverged:  # a tinted panel: seen before any title is read
            fig.add_shape(type="rect", xref="x domain", yref="y domain", x0=0, x1=1, y0=0, y1=1, layer="below",
                          fillcolor="rgba(214, 39, 40, 0.12)", line={"color": DIVERGED_COLOUR, "width": 1}, **where)
    for annotation, curve in zip(fig.layout.annotations, shown, strict=True):
        annotation.font = {"size": 10, "color": DIVERGED_COLOUR if curve.diverged else "#333"}
    fig.update_xaxes(tickfont={"size": 8})
    fig.update_yaxes(tickfont={"size": 8})
    fig.update_layout(showlegend=False, height=170 * rows + 90, margin={"l": 30, "r": 10, "t": 100, "b": 30},
                      title={"text": "Training loss per step, one panel per trained cell (red: loss did not go down)",
                             "font": {"size": 13}})
    return fig


def panel_html(curves: list[CellCurve], out: Path) -> str:
    """The report's section: the small multiples and one row per trained cell with a link to its curves folder
    (relative to the report at ``out``). Empty when no cell trained."""
    import plotly.io as pio

    if not curves:
        return ""
    bad = sum(c.diverged for c in curves)
    figure = pio.to_html(panel_figure(curves), include_plotlyjs=False, include_mathjax=False, full_html=False,
                         default_width="100%", config={"displaylogo": False, "responsive": True})
    parts = ['<section class="xw-curves jp-RenderedHTMLCommon">',
             f'<h2 id="training-curves">Training curves ({len(curves)} trained cells, {bad} diverged)</h2>',
             "<p>Each trained cell's loss per optimizer step (TensorBoard events; W&amp;B / MLflow too where the "
             "study's <code>tracking</code> names them). A cell whose final loss (mean of the last tenth of steps) "
             "is not below its first is marked diverged."
             + (f" Only the first {MAX_PANELS} panels are drawn (diverged first); the table lists every cell."
                if len(curves) > MAX_PANELS else "") + "</p>",
             f'<div class="xw-curves-panel">{figure}</div>',
             "<table><tr><th>cell</th><th>first loss</th><th>final loss</th><th>diverged</th>"
             "<th>curves folder (<code>tensorboard --logdir</code> it)</th></tr>"]
    for curve in curves:
        link = html.escape(os.path.relpath(curve.folder, out.parent))
        mark = '<td class="xw-diverged">diverged</td>' if curve.diverged else "<td></td>"
        parts.append(f'<tr class="xw-curve-row"><td><code>{html.escape(curve.cell.id)}</code></td>'
                     f"<td>{curve.initial:.4f}</td><td>{curve.final:.4f}</td>{mark}"
                     f'<td><a class="xw-curves-link" href="{link}">{link}</a></td></tr>')
    parts += ["</table>", "</section>"]
    return "\n".join(parts)
