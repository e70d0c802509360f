"""The simulator and the validation of the verdict's estimator on studies with a known slope.

What is tested where (honestly): 400 studies here use the fast estimator (OLS on baseline-run
means, numpy); the verdict's MixedLM is shown to give the *same* slope and SE on balanced studies
and gets a 40-study coverage smoke check on a tiny grid. The full >= 200-per-setting coverage of
the MixedLM itself is in ``benchmarks/analysis_validation.py``.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

from xw.analysis import compute_gains, fit_cells, fit_slope
from xw.analysis.simulate import (
    Grid,
    Truth,
    fast_slope,
    power_table,
    run_studies,
    simulate_results,
    simulate_scores,
    summarize,
    to_results,
    validate,
)

TINY = Grid.make(n_scales=3, n_intermediates=2, n_targets=4, n_languages=3, n_seeds=2)
SMALL = Grid.make(n_scales=4, n_intermediates=2, n_targets=8, n_languages=5, n_seeds=3)
COLUMNS = ["study", "model", "scale", "params", "intermediate_task", "target_task", "task_family", "language",
           "split", "seed", "metric", "value", "primary", "git_commit", "finished_at", "device", "wall_seconds"]


@pytest.fixture(autouse=True)
def _quiet():
    logging.disable(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    logging.disable(logging.NOTSET)


def test_simulated_table_has_the_grid_shape():
    r = simulate_results(SMALL, Truth(slope=0.2), seed=1)
    assert list(r.columns) == COLUMNS
    S, I1, T, L, K = SMALL.shape
    n_qa = sum(f == "qa" for _, f, _ in SMALL.targets)
    assert len(r) == S * I1 * K * L * (T + n_qa), "one row per measurement, plus non-primary EM for QA"
    assert r["value"].between(0, 100).all() and r["primary"].dtype == bool
    assert {"none", *SMALL.intermediates} == set(r["intermediate_task"]) and "en" in set(r["language"])
    assert r.groupby("scale")["params"].nunique().eq(1).all()


def test_failed_runs_remove_all_their_languages():
    r = simulate_results(SMALL, Truth(), seed=2, fail_rate=0.1)
    per_run = r[r["primary"]].groupby(["scale", "intermediate_task", "target_task", "seed"])["language"].nunique()
    assert per_run.eq(len(SMALL.languages) + 1).all()
    full = len(SMALL.scales) * (len(SMALL.intermediates) + 1) * len(SMALL.targets) * len(SMALL.seeds)
    assert len(per_run) < full
    assert compute_gains(r).attrs["n_dropped"] > 0


def test_fast_path_equals_the_dataframe_path():
    scores = simulate_scores(SMALL, Truth(slope=-0.3), np.random.default_rng(3))
    est, se, df = fast_slope(SMALL, scores)
    fit = fit_cells(compute_gains(to_results(SMALL, scores)))
    assert (est, se, df) == pytest.approx((fit.estimate, fit.se, fit.df), rel=1e-9)


def test_verdict_estimator_equals_fast_estimator_on_balanced_studies():
    ratios = []
    for seed in range(4):
        scores = simulate_scores(TINY, Truth(slope=0.2), np.random.default_rng(seed))
        est, se, _ = fast_slope(TINY, scores)
        fit = fit_slope(compute_gains(to_results(TINY, scores)))
        assert fit.estimate == pytest.approx(est, abs=1e-8)
        ratios.append(fit.se / se)
    assert min(ratios) > 0.98 and np.median(ratios) == pytest.approx(1.0, abs=0.02)


def test_fast_estimator_coverage_and_sign_recovery():
    # 1000 studies: binomial SD of the coverage 0.7 points, so 93-97% is a real check (3000 gave 94.6%)
    table = validate(SMALL, slopes=(0.0,), n_sims=1000, estimator="fast", seed=11)
    assert 0.93 <= table["coverage"].item() <= 0.97
    assert table["verdict_correct"].item() >= 0.93, "false 'amplifies'/'diminishes' at most ~5%"
    for b in (0.3, -0.3):
        s = validate(SMALL, slopes=(b,), n_sims=300, estimator="fast", seed=12).iloc[0]
        assert s["sign_recovered"] >= 0.99 and s["verdict_correct"] >= 0.95
        assert 0.91 <= s["coverage"] <= 0.985, "300 studies: 95% +- 2.5 binomial SDs"
        assert abs(s["bias"]) < 0.02


def test_verdict_estimator_coverage_smoke():
    runs = run_studies(TINY, Truth(slope=0.2), n_sims=40, estimator="mixed", seed=21)
    s = summarize(runs)
    assert s["coverage"] >= 0.85, "40 studies: a loose bound; the benchmark has the 200-study table"
    assert runs["method"].str.startswith("MixedLM").mean() >= 0.9


def test_crossed_textbook_model_is_too_narrow():
    """Why the verdict does not use the crossed model: it ignores that languages share a run."""
    g = compute_gains(simulate_results(SMALL, Truth(slope=0.2), seed=5))
    assert fit_slope(g, random="crossed").se < 0.6 * fit_slope(g).se


def test_power_table():
    grids = [Grid.make(n_scales=3, n_intermediates=2, n_targets=8, n_languages=3, n_seeds=1),
             Grid.make(n_scales=4, n_intermediates=2, n_targets=8, n_languages=8, n_seeds=3)]
    table = power_table(grids, n_sims=150, seed=1)
    mds = table["min_detectable_slope"].to_numpy()
    assert (mds > 0).all() and mds[1] < mds[0], "more scales, languages and seeds detect smaller slopes"
    assert table["empirical_power"].between(0.68, 0.92).all()
    assert table["false_positive_rate"].between(0.0, 0.12).all()
