"""One object per analysed study, so the notebook is a list of one-line calls.

``analyze`` loads the table, builds the gains and fits the headline model for every gain measure;
everything else (per-target models, bootstrap, parameter equivalents, figures) is computed on
first use and cached.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from xw.analysis import figures, present
from xw.analysis.covariates import fit_language_covariates
from xw.analysis.design import single_threaded
from xw.analysis.gains import (
    MEASURES,
    baseline_scores,
    clean_results,
    compute_equivalent_gain,
    compute_gains,
    dropped_pairs,
    equivalent_gain_summary,
    load_results,
    measure_column,
)
from xw.analysis.models import SlopeFit, fit_per, fit_slope, heterogeneity
from xw.analysis.robustness import BootstrapResult, cluster_bootstrap
from xw.analysis.verdict import meaning, verdict_sentence, verdict_table, verdict_word


@dataclass
class Analysis:
    """A study's results, its gains and the models on them, for one headline gain measure."""

    results: pd.DataFrame
    gains: pd.DataFrame
    gain_measure: str = "absolute"
    exclude_languages: tuple[str, ...] = ("en",)
    split: str | None = None
    random: str = "runs"
    language_metadata: pd.DataFrame | None = None
    n_boot: int = 1000
    seed: int = 0
    source: str = ""
    fits: dict[str, SlopeFit] = field(default_factory=dict)

    # ------------------------------------------------------------------ headline
    @property
    def fit(self) -> SlopeFit:
        """The headline model: the chosen gain measure."""
        return self.fits[self.gain_measure]

    @property
    def verdict(self) -> str:
        return verdict_sentence(self.fit)

    @property
    def verdict_word(self) -> str:
        return verdict_word(self.fit)

    @property
    def verdict_line(self) -> str:
        """The grep-able line ``xw grid`` looks for (xw.ledger.find_verdict): ``VERDICT: <word> | <sentence>``."""
        return f"VERDICT: {self.verdict_word} | {self.verdict}"

    def summary(self) -> str:
        """Verdict first (with the grep-able ``VERDICT:`` line), then what the number means and caveats."""
        f = self.fit
        lines = [self.verdict, "", self.verdict_line, "",
                 f"Effect size: {f.estimate:+.3f} {f.unit} per doubling of parameters, 95% CI "
                 f"{f.ci_low:+.3f} to {f.ci_high:+.3f} (SE {f.se:.3f}, t with {f.df:.0f} df, p = {f.p_value:.3g}).",
                 meaning(f, self.gains),
                 f"Robustness: {self.bootstrap.describe()}",
                 self.heterogeneity["statement"]]
        others = [m for m in self.fits if m != self.gain_measure]
        if others:
            lines.append("Other gain measures: " + "; ".join(
                f"{m}: {verdict_word(self.fits[m])} ({self.fits[m].estimate:+.3f} {self.fits[m].unit} per doubling, "
                f"95% CI {self.fits[m].ci_low:+.3f} to {self.fits[m].ci_high:+.3f})" for m in others) + ".")
        lines.append(f"Data: {self.describe_data()}")
        if f.notes:
            lines.append("Model notes: " + "; ".join(f.notes))
        return "\n".join(lines)

    def summary_card(self) -> present.HTMLBlock:
        """The summary for readers (HTML in the notebook and the report): the verdict in one sentence,
        the effect size with its CI, what it means in plain words, robustness and caveats."""
        return present.summary_card(self)

    def table(self, name: str):
        """A table formatted for readers (``xw.analysis.present.TABLES``: per_target, verdicts, bootstrap,
        equivalent, dropped, families, per_intermediate, variance, gains, covariates)."""
        return present.table(self, name)

    def describe_data(self) -> str:
        g = self.gains
        return (f"{len(g)} paired gains from {g['scale'].nunique()} scales, {g['intermediate_task'].nunique()} "
                f"intermediate tasks, {g['target_task'].nunique()} targets ({g['task_family'].nunique()} families), "
                f"{g['language'].nunique()} languages (excluded: {', '.join(self.exclude_languages) or 'none'}), "
                f"{g['seed'].nunique()} seeds; {g.attrs.get('n_dropped', 0)} incomplete pairs dropped, "
                f"{g.attrs.get('n_duplicates', 0)} duplicate rows superseded.")

    def verdict_table(self) -> pd.DataFrame:
        return verdict_table(self.fits)

    def family_slopes(self) -> pd.DataFrame:
        return self.fit.family_slopes

    def variance_components(self) -> pd.DataFrame:
        return pd.DataFrame({"component": list(self.fit.variance_components),
                             "variance": list(self.fit.variance_components.values())})

    # ------------------------------------------------------------------ per target, robustness
    @cached_property
    def per_target(self) -> pd.DataFrame:
        return fit_per(self.gains, "target_task", self.gain_measure, lambda g, measure: fit_slope(
            g, measure, random=self.random))

    @cached_property
    def per_intermediate(self) -> pd.DataFrame:
        return fit_per(self.gains, "intermediate_task", self.gain_measure, lambda g, measure: fit_slope(
            g, measure, random=self.random))

    @cached_property
    def heterogeneity(self) -> dict:
        return heterogeneity(self.per_target, self.gains, self.gain_measure)

    @cached_property
    def bootstrap(self) -> BootstrapResult:
        return cluster_bootstrap(self.gains, self.gain_measure, n_boot=self.n_boot, seed=self.seed)

    def bootstrap_table(self) -> pd.DataFrame:
        b, f = self.bootstrap, self.fit
        return pd.DataFrame([
            {"method": f.method, "slope_per_doubling": f.estimate, "ci_low": f.ci_low, "ci_high": f.ci_high},
            {"method": f"cluster bootstrap, OLS ({b.n_boot} resamples)", "slope_per_doubling": b.estimate,
             "ci_low": b.ci_low, "ci_high": b.ci_high}])

    @cached_property
    def equivalent(self) -> pd.DataFrame:
        return compute_equivalent_gain(self.gains, self.results, exclude_languages=self.exclude_languages,
                                       split=self.split)

    def equivalent_summary(self) -> pd.DataFrame:
        return equivalent_gain_summary(self.equivalent)

    def dropped(self) -> pd.DataFrame:
        return dropped_pairs(self.gains)

    def language_covariates(self) -> pd.DataFrame:
        if self.language_metadata is None:
            return pd.DataFrame()
        return fit_language_covariates(self.gains, self.language_metadata, self.gain_measure)

    def gain_table(self) -> pd.DataFrame:
        """Mean gain per scale x intermediate x target (over languages and seeds)."""
        col = measure_column(self.gain_measure)
        return (self.gains.pivot_table(index=["params", "scale", "intermediate_task"], columns="target_task",
                                       values=col, aggfunc="mean").round(2).reset_index())

    # ------------------------------------------------------------------ figures
    def fig_gain_vs_params(self) -> go.Figure:
        return figures.gain_vs_params(self.gains, self.gain_measure)

    def fig_heatmap(self) -> go.Figure:
        return figures.heatmap(self.gains, self.gain_measure)

    def fig_language(self) -> go.Figure:
        return figures.language_gain(self.gains, self.gain_measure)

    def fig_forest(self) -> go.Figure:
        per = self.per_target.assign(measure=self.gain_measure)
        return figures.forest(per, self.fit)

    def fig_baseline(self) -> go.Figure:
        return figures.baseline_curve(baseline_scores(self.results, self.exclude_languages, self.split))


@single_threaded
def analyze(results: str | Path | pd.DataFrame, gain_measure: str = "absolute",
            exclude_languages: Iterable[str] = ("en",), split: str | None = None, random: str = "runs",
            language_metadata: str | Path | pd.DataFrame | None = None, n_boot: int = 1000,
            seed: int = 0) -> Analysis:
    """Everything the notebook shows, from a results.csv path (or its DataFrame)."""
    measure_column(gain_measure)  # fail early on a typo
    source = str(results) if not isinstance(results, pd.DataFrame) else "DataFrame"
    table = load_results(results) if not isinstance(results, pd.DataFrame) else clean_results(results)
    if isinstance(language_metadata, str | Path):
        language_metadata = pd.read_csv(language_metadata)
    excl = tuple(exclude_languages)
    gains = compute_gains(table, excl, split)
    if gains.empty:
        raise ValueError(f"{source}: no complete intermediate/baseline pairs; "
                         f"{gains.attrs.get('n_dropped', 0)} pairs are incomplete")
    fits = {m: fit_slope(gains, m, random=random) for m in [gain_measure, *[k for k in MEASURES if k != gain_measure]]}
    return Analysis(table, gains, gain_measure, excl, split, random, language_metadata, n_boot, seed, source, fits)
