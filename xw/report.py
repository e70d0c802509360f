"""The study's HTML report: the analysis notebook (the answer) first, then the grid's cells, in one file.

The file must open on an air-gapped cluster, so nothing may load from the network.
nbconvert's lab template pulls require.js, MathJax, mermaid and the widget manager from
CDNs, and plotly's notebook renderer adds a MathJax CDN script to every figure and a copy
of plotly.js per notebook. So before exporting, each figure's HTML is rebuilt from its
plotly JSON (``application/vnd.plotly.v1+json``) as a plain ``Plotly.newPlot`` call,
plotly.js from the installed plotly package is inlined once in the page head, and the
template's CDN blocks are emptied. (LaTeX in markdown is therefore shown as source.)

The page is for readers: a header (the question, the study, contents) comes first; the analysis
notebook is shown without its code (the executed notebook, linked from the header, has it) and
without cells tagged ``remove-cell``; then the training curves, one small panel per trained cell
(xw.curve_panel); the grid's cells follow, with their code, for debugging.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import nbformat

from xw.cells import Cell
from xw.curve_panel import cell_curves, panel_html
from xw.ledger import CellState, cell_states, find_verdict, stray_failures
from xw.params import Study

PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

# Extends nbconvert's lab template: no CDN scripts; xw_* resources add the page's own parts.
_PAGE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_css -%}{{ resources.xw_head }}{%- endblock html_head_css -%}
{%- block body_header -%}{{ super() }}{{ resources.xw_before }}{%- endblock body_header -%}
{%- block body_footer -%}{{ resources.xw_after }}{{ super() }}{%- endblock body_footer -%}
"""
# Only the cells, for embedding a notebook inside the page.
_BODY_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block header -%}{%- endblock header -%}
{%- block body_header -%}{%- endblock body_header -%}
{%- block body_footer -%}{%- endblock body_footer -%}
{%- block footer -%}{%- endblock footer -%}
"""

_CSS = """
main { max-width: 1280px; margin: 0 auto; }
.xw-header, .xw-cells { padding: 0 var(--jp-notebook-padding, 10px); }
.xw-header h1 { margin-bottom: 0.2em; line-height: 1.25; }
.xw-kicker { color: #57606a; margin: 1em 0 0 0; }
.xw-lede { color: #333; font-size: 1.05em; }
.xw-verdict { font-size: 1.2em; font-weight: bold; padding: 0.6em; border-left: 6px solid #57606a;
  background: #f6f8fa; }
.xw-badge { color: white; border-radius: 4px; padding: 2px 8px; margin-right: 8px; font-size: 0.8em;
  text-transform: uppercase; letter-spacing: 0.04em; background: #57606a; }
.xw-verdict-amplifies { border-left-color: #1a7f37; } .xw-verdict-amplifies .xw-badge { background: #1a7f37; }
.xw-verdict-diminishes { border-left-color: #b35900; } .xw-verdict-diminishes .xw-badge { background: #b35900; }
.xw-notice { padding: 0.6em; border-left: 4px solid #d9534f; background: #fdf2f2; white-space: pre-wrap; }
.xw-facts { color: #444; font-size: 0.92em; margin: 0.4em 0; }
.xw-toc { margin: 0.6em 0 0.4em 0; padding: 0.4em 0.8em; background: #f6f8fa; border-radius: 4px; }
.xw-toc a { display: inline-block; margin-right: 1.2em; }
.xw-summary th, .xw-summary td { border: none !important; background: transparent !important; }
.jp-RenderedHTMLCommon .xw-summary table tr:nth-child(odd) { background: transparent; }
.xw-table caption { caption-side: top; text-align: left; color: #444; }
.xw-answer .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"] { background: #fff8e6;
  border-left: 4px solid #e3a008; padding-left: 0.5em; }
.xw-answer .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"] pre::before {
  content: "note: "; font-weight: bold; color: #8a5a00; }

.xw-cells table, .xw-curves table { border-collapse: collapse; margin: 1em 0; }
section.xw-cells.jp-RenderedHTMLCommon td, section.xw-cells.jp-RenderedHTMLCommon th,
section.xw-curves.jp-RenderedHTMLCommon td, section.xw-curves.jp-RenderedHTMLCommon th { border: 1px solid #ddd;
  padding: 2px 8px; text-align: left; }
.xw-curves { padding: 0 var(--jp-notebook-padding, 10px); }
.xw-diverged { color: #d62728; font-weight: bold; }
.xw-state-failed, .xw-state-skipped { color: #b52a1c; font-weight: bold; }
.xw-cells details { margin: 0.5em 0; border: 1px solid #ddd; padding: 0.3em; }
.xw-cells summary { cursor: pointer; font-family: var(--jp-code-font-family, monospace); }
"""

# Plotly sizes a figure drawn inside a closed <details> as 0 wide; redraw it when opened.
_RESIZE_JS = """<script type="text/javascript">
document.querySelectorAll('details').forEach(function (d) {
  d.addEventListener('toggle', function () {
    if (!d.open || !window.Plotly) return;
    d.querySelectorAll('.js-plotly-plot').forEach(function (p) { window.Plotly.Plots.resize(p); });
  });
});
</script>"""

# The header's contents: links to the analysis' section headings (the ids nbconvert gave them) and the cells.
_TOC_JS = """<script type="text/javascript">
(function () {
  var toc = document.querySelector('.xw-toc-links');
  if (!toc) return;
  document.querySelectorAll('main h2[id]').forEach(function (h) {
    if (h.closest('details') || h.closest('.xw-header')) return;
    var a = document.createElement('a');
    a.href = '#' + h.id;
    a.textContent = h.textContent.replace(/\u00b6$/, '').trim();
    toc.appendChild(a);
  });
  if (!toc.children.length) toc.parentNode.style.display = 'none';
})();
</script>"""

REMOVE_CELL_TAG = "remove-cell"  # Jupyter Book's tag: the cell is left out of the report
SUMMARY_CLASS = "xw-summary"  # the analysis' summary card (xw.analysis.present); it carries the verdict
QUESTION = "Does model scale amplify or diminish the benefit of English intermediate-task training?"


def _offline_outputs(nb: nbformat.NotebookNode) -> int:
    """Rewrite outputs so nothing needs the network; returns the number of plotly figures."""
    import plotly.io as pio

    figures = 0
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        kept = []
        for out in _merge_streams(cell.get("outputs", [])):
            data = out.get("data")
            if out.get("output_type") in ("display_data", "execute_result") and data is not None:
                if PLOTLY_MIME in data:
                    figure_html = pio.to_html(data[PLOTLY_MIME], include_plotlyjs=False, include_mathjax=False,
                                              full_html=False, default_width="100%", default_height=525,
                                              validate=False, config={"displaylogo": False, "responsive": True})
                    out["data"] = {"text/html": figure_html, "text/plain": data.get("text/plain", "")}
                    figures += 1
                elif is_plotlyjs_bundle(data.get("text/html", "")):
                    continue  # the renderer's own plotly.js copy: inlined once in the head instead
                else:
                    data.pop(WIDGET_MIME, None)  # widgets would need the CDN widget manager
                    if not data:
                        continue
            kept.append(out)
        cell["outputs"] = kept
    nb.metadata.pop("widgets", None)
    return figures


def is_plotlyjs_bundle(text: str | list[str]) -> bool:
    """The 4.8 MB plotly.js copy that plotly's notebook renderer displays once per notebook."""
    text = "".join(text) if isinstance(text, list) else text
    return len(text) > 100_000 and "window.PlotlyConfig" in text


def drop_plotlyjs_bundles(nb: nbformat.NotebookNode) -> int:
    """Remove those copies (figures keep their plotly JSON, which JupyterLab renders); returns how many."""
    dropped = 0
    for cell in nb.cells:
        outputs = cell.get("outputs")
        if outputs:
            kept = [o for o in outputs if not is_plotlyjs_bundle(o.get("data", {}).get("text/html", ""))]
            dropped += len(outputs) - len(kept)
            cell["outputs"] = kept
    return dropped


def _merge_streams(outputs: list) -> list:
    """Join consecutive stream outputs and keep only what a terminal would show after each carriage return
    (progress bars otherwise print one line per update)."""
    merged: list = []
    for out in outputs:
        if out.get("output_type") == "stream" and merged and merged[-1].get("output_type") == "stream" \
                and merged[-1].get("name") == out.get("name"):
            merged[-1]["text"] = "".join(merged[-1]["text"]) + "".join(out["text"])
        else:
            merged.append(out)
    for out in merged:
        if out.get("output_type") == "stream":
            text = "".join(out["text"])
            out["text"] = "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in text.split("\n"))
    return merged


def _exporter(template: str, *, hide_code: bool = False):
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"xw.html.j2": template})],
                        template_file="xw.html.j2", exclude_input=hide_code, exclude_input_prompt=hide_code,
                        exclude_output_prompt=hide_code)


def _reader_view(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Leave out the cells tagged ``remove-cell`` (the notebook's title, the grep-able VERDICT print)."""
    nb.cells = [c for c in nb.cells if REMOVE_CELL_TAG not in c.get("metadata", {}).get("tags", [])]
    return nb


def _has_summary(nb: nbformat.NotebookNode) -> bool:
    return any(SUMMARY_CLASS in "".join(o.get("data", {}).get("text/html", ""))
               for c in nb.cells for o in c.get("outputs", []))


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def external_scripts(page: str) -> list[str]:
    """Script/stylesheet URLs the page would fetch from the network (should be none)."""
    import re

    return re.findall(r"""<(?:script|link)[^>]+(?:src|href)=["']?((?:https?:)?//[^"' >]+)""", page)


def export_report(study: Study, notebooks: list[Path], out: Path, *, answer_first: bool = True,
                  notice: str = "", max_embedded: int = 24, cells: list[Cell] | None = None) -> Path:
    """Write ``out`` (outputs/<study>/report.html): an offline HTML page, written atomically.

    ``notebooks[0]`` is the analysis notebook, rendered in full when ``answer_first``; the rest
    are cell notebooks, listed in a table with their state and a link, and embedded collapsed
    when there are at most ``max_embedded`` of them. ``notice`` is shown at the top (e.g. why
    the analysis did not run). ``cells``: the grid's cells, as the grid expanded them (default: expanded
    from the study here, which needs every task of the study registered in this process; a Slurm analysis
    job may lack a task the grid's process registered).
    """
    from plotly.offline import get_plotlyjs

    from xw.atomic import atomic_write_text

    out = Path(out)
    notebooks = [Path(p) for p in notebooks]
    answer = notebooks[0] if answer_first and notebooks else None
    cell_notebooks = notebooks[1:] if answer is not None else notebooks
    states = cell_states(study, cells, live=False)  # the run is over
    strays = stray_failures(study, [s.cell for s in states])

    figures = 0
    if answer is not None:
        page_nb = _reader_view(_read(answer))
        figures += _offline_outputs(page_nb)
    else:
        page_nb = nbformat.v4.new_notebook()
    page_nb.metadata["title"] = f"xw report: {study.name}"
    rows = _cell_rows(out, cell_notebooks, states, strays)
    curves = panel_html(cell_curves(study, [s.cell for s in states]), out)  # xw.curve_panel; "" if none trained
    figures += bool(curves)

    bodies: list[str] = []
    if len(cell_notebooks) <= max_embedded:
        body_exporter = _exporter(_BODY_TEMPLATE)
        for path in cell_notebooks:
            nb = _read(path)
            figures += _offline_outputs(nb)
            body, _ = body_exporter.from_notebook_node(nb)
            bodies.append(body)

    verdict = find_verdict(answer) if answer is not None else None
    head = f'<style type="text/css">{_CSS}</style>'
    if figures:
        head += ('<script type="text/javascript">window.PlotlyConfig = {MathJaxConfig: "local"};</script>'
                 f'<script type="text/javascript">{get_plotlyjs()}</script>')
    before = _header_html(study, verdict, notice, answer, out, rows, summary=_has_summary(page_nb))
    if answer is not None:
        before += '<div class="xw-answer">'
    after = ("</div>" if answer is not None else "") + curves + _cells_html(out, cell_notebooks, bodies, rows)
    after += _RESIZE_JS + _TOC_JS
    page, _ = _exporter(_PAGE_TEMPLATE, hide_code=True).from_notebook_node(
        page_nb, resources={"xw_head": head, "xw_before": before, "xw_after": after})
    atomic_write_text(out, page)
    return out


def _verdict_html(verdict: str) -> str:
    """``VERDICT: amplifies | sentence`` as a badge and the sentence; any other text as it is."""
    text = verdict[len("VERDICT: "):] if verdict.startswith("VERDICT: ") else verdict
    word, sep, sentence = text.partition(" | ")
    if not sep:
        return f'<p class="xw-verdict">{html.escape(verdict)}</p>'
    slug = word.strip().replace(" ", "-")
    return (f'<p class="xw-verdict xw-verdict-{html.escape(slug)}"><span class="xw-badge">{html.escape(word)}</span>'
            f"{html.escape(sentence)}</p>")


def _header_html(study: Study, verdict: str | None, notice: str, answer: Path | None, out: Path,
                 rows: list[tuple[str, str, str, str]], *, summary: bool) -> str:
    """The top of the page: what was asked, of which study, the answer when the notebook has no summary
    card of its own, what went wrong (``notice``), the study's facts and the contents."""
    import datetime as dt

    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = ['<header class="xw-header jp-RenderedHTMLCommon">',
             f'<p class="xw-kicker">xw report · study <code>{html.escape(study.name)}</code> · {when}</p>',
             f"<h1>{html.escape(QUESTION)}</h1>",
             '<p class="xw-lede">Zero-shot cross-lingual transfer on XTREME targets, across a ladder of model sizes.'
             + (f" {html.escape(study.description.strip())}" if study.description else "") + "</p>"]
    if verdict and not summary:
        parts.append(_verdict_html(verdict))
    if notice:
        parts.append(f'<p class="xw-notice">{html.escape(notice)}</p>')
    facts = [f"{len(study.ladder)} model sizes ({', '.join(s.name for s in study.ladder)})"]
    inters = [t for t in study.intermediate_tasks if t != "none"]
    facts.append(f"intermediate tasks {', '.join(inters)}" + (" against the baseline (none)"
                                                            if "none" in study.intermediate_tasks else ""))
    facts.append(f"{len(study.target_tasks)} targets ({', '.join(study.target_tasks)})")
    facts.append(f"seeds {', '.join(map(str, study.seeds))}")
    if study.languages:
        facts.append(f"languages {', '.join(study.languages)}")
    items = [html.escape(f) for f in facts]
    if rows:
        counts: dict[str, int] = {}
        for _, state, _, _ in rows:
            counts[state] = counts.get(state, 0) + 1
        items.append("grid cells: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
                     + ' (<a href="#grid-cells">list</a>)')
    items.append(f"parameters <code>{html.escape(str(study.path))}</code>")
    if answer is not None:
        link = html.escape(os.path.relpath(answer, out.parent))
        items.append(f'code hidden here, in the executed notebook <a href="{link}"><code>{link}</code></a>')
    parts.append(f'<p class="xw-facts">Study: {" · ".join(items)}.</p>')
    parts.append(provenance_html(study))
    parts.append('<nav class="xw-toc"><strong>Contents:</strong> <span class="xw-toc-links"></span></nav>')
    parts.append("</header>")
    return "\n".join(parts)


def provenance_html(study: Study) -> str:
    """The code and library versions behind the page, and every training whose loss did not go down: a diverged
    cell is named at the top rather than averaged into a gain (columns from xw.provenance / xw.tracking)."""
    import pandas as pd

    from xw.layout import results_path
    from xw.provenance import git_describe, library_versions

    path = results_path(study)
    table = pd.read_csv(path) if path.is_file() else pd.DataFrame()
    parts = [_versions_html(table, git_describe(), library_versions())]
    if "train_diverged" in table:
        bad = table[table["train_diverged"].astype(str).str.lower() == "true"]
        names = sorted({f"{r.scale}/{r.intermediate_task}/{r.target_task}/seed{r.seed}" for r in bad.itertuples()})
        if names:
            parts.append('<p class="xw-notice">Training loss did not go down (final >= initial) in: '
                         + ", ".join(f"<code>{html.escape(n)}</code>" for n in names) + "</p>")
    return "\n".join(parts)


def _versions_html(table, report_code: str, report_libraries: dict[str, str]) -> str:
    """The code and libraries the rows were computed with (from their columns), and the report's own when they
    differ: a study run across an upgrade or with uncommitted code says so here instead of hiding it."""
    def libraries(value: str) -> str:
        try:
            return ", ".join(f"{k} {v}" for k, v in json.loads(value).items())
        except (TypeError, ValueError):
            return str(value)

    if "git_describe" not in table or "library_versions" not in table or table.empty:
        own = ", ".join(f"{k} {v}" for k, v in report_libraries.items())
        return f'<p class="xw-facts">Code <code>{html.escape(report_code)}</code> · {html.escape(own)}.</p>'
    runs = table.groupby(["git_describe", "library_versions"], dropna=False).size().sort_values(ascending=False)
    lines = [f"<code>{html.escape(str(code))}</code> · {html.escape(libraries(libs))} ({n} rows)"
             for (code, libs), n in runs.items()]
    head = "Results computed with" if len(lines) == 1 else f"Results computed with {len(lines)} different setups"
    text = f'<p class="xw-facts">{head}: ' + "; ".join(lines)
    if len(lines) == 1 and (str(runs.index[0][0]) != report_code):
        text += f" (this report built with <code>{html.escape(report_code)}</code>)"
    return text + ".</p>"


def _cell_rows(out: Path, notebooks: list[Path], states: list[CellState],
               strays: dict[str, tuple[str, str]]) -> list[tuple[str, str, str, str]]:
    """(cell id, state, link to its executed notebook, first line of its error) for every cell that ran
    (has an executed notebook), failed or was skipped: the grid's cells by their state in the ledger
    (xw.ledger.cell_states), other failure records (``strays``) as they say."""
    rows = []
    known = {s.cell.id: (s.state, s.note) for s in states}
    known.update(strays)
    names = {p.stem for p in notebooks}
    for path in notebooks:
        state, note = known.get(path.stem, ("done", ""))  # a notebook that no record calls failed
        link = html.escape(os.path.relpath(path, out.parent))
        rows.append((path.stem, state, f'<a href="{link}">{html.escape(path.name)}</a>', note))
    # failed before any notebook existed (e.g. skipped), in the order of the failure records
    for cell_id in sorted(known, key=lambda cell_id: f"{cell_id}.json"):
        state, note = known[cell_id]
        if cell_id not in names and state in ("failed", "skipped"):
            rows.append((cell_id, state, "", note))
    return rows


def _cells_html(out: Path, notebooks: list[Path], bodies: list[str], rows: list[tuple[str, str, str, str]]) -> str:
    if not rows:
        return ""
    counts: dict[str, int] = {}
    for _, state, _, _ in rows:
        counts[state] = counts.get(state, 0) + 1
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    parts = ['<section class="xw-cells jp-RenderedHTMLCommon">', f'<h2 id="grid-cells">Grid cells ({summary})</h2>',
             "<table><tr><th>cell</th><th>state</th><th>executed notebook</th><th>note</th></tr>"]
    for cell_id, state, link, note in rows:
        parts.append(f"<tr><td><code>{html.escape(cell_id)}</code></td>"
                     f'<td class="xw-state-{state}">{state}</td><td>{link}</td><td>{html.escape(note)}</td></tr>')
    parts.append("</table>")
    if bodies:
        parts.append("<p>Each cell's executed notebook (click to open):</p>")
        for path, body in zip(notebooks, bodies, strict=True):
            parts.append(f"<details><summary>{html.escape(path.stem)}</summary>{body}</details>")
    elif notebooks:
        parts.append("<p>Too many cells to embed; open the executed notebooks from the links above.</p>")
    parts.append("</section>")
    return "\n".join(parts)
