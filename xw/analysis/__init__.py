"""Analysis of a study's results: does scale amplify or diminish intermediate-task gains?

The notebook calls ``analyze(results_path, gain_measure)`` and then one-line methods of the
returned ``Analysis``; the building blocks are importable for other uses:

- ``gains``: paired gains (absolute, error reduction, relative) and their parameter equivalent,
- ``pipeline``: ``analyze`` and ``Analysis``, which put the pieces below together for the notebook,
- ``design``: gains made ready for a model (outcome, centred log2(params), baseline runs),
- ``models``: the mixed-model slope on log2(params), per-target slopes, heterogeneity,
- ``covariates``: language traits (family, script, pretraining size) as moderators,
- ``robustness``: cluster bootstrap over languages and seeds,
- ``verdict``: the one-sentence answer,
- ``present``: the summary card and the formatted tables,
- ``figures``: plotly figures,
- ``simulate``: simulated studies with a known slope, coverage validation and power.
"""

from xw.analysis.covariates import fit_language_covariates
from xw.analysis.gains import (
    MEASURES,
    baseline_scores,
    compute_equivalent_gain,
    compute_gains,
    dropped_pairs,
    equivalent_gain_summary,
    load_results,
)
from xw.analysis.models import (
    SlopeFit,
    fit_cells,
    fit_per,
    fit_slope,
    heterogeneity,
)
from xw.analysis.pipeline import Analysis, analyze
from xw.analysis.robustness import BootstrapResult, cluster_bootstrap
from xw.analysis.verdict import verdict_sentence, verdict_table, verdict_word

__all__ = [
    "MEASURES",
    "Analysis",
    "BootstrapResult",
    "SlopeFit",
    "analyze",
    "baseline_scores",
    "cluster_bootstrap",
    "compute_equivalent_gain",
    "compute_gains",
    "dropped_pairs",
    "equivalent_gain_summary",
    "fit_cells",
    "fit_language_covariates",
    "fit_per",
    "fit_slope",
    "heterogeneity",
    "load_results",
    "verdict_sentence",
    "verdict_table",
    "verdict_word",
]
