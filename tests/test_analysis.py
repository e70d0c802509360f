"""xw.analysis: gains, models, bootstrap, parameter equivalents, verdict, figures and the notebook."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from xw.analysis import (
    analyze,
    cluster_bootstrap,
    compute_equivalent_gain,
    compute_gains,
    dropped_pairs,
    figures,
    fit_cells,
    fit_language_covariates,
    fit_per,
    fit_slope,
    heterogeneity,
    models,
    verdict_sentence,
    verdict_table,
    verdict_word,
)
from xw.analysis.models import SlopeFit
from xw.analysis.simulate import Grid, Truth, simulate_results

ROOT = Path(__file__).resolve().parents[1]
SMALL = Grid.make(n_scales=3, n_intermediates=2, n_targets=4, n_languages=4, n_seeds=2)


def row(scale: str, params: int, inter: str, lang: str, seed: int, value: float, target: str = "xnli",
        family: str = "classification", metric: str = "accuracy", primary: bool = True, **kw) -> dict:
    return {"study": "t", "model": f"m-{scale}", "scale": scale, "params": params, "intermediate_task": inter,
            "target_task": target, "task_family": family, "language": lang, "split": "dev", "seed": seed,
            "metric": metric, "value": value, "primary": primary, "git_commit": "abc",
            "finished_at": kw.get("finished_at", "2024-01-01T00:00:00"), "device": "cpu", "wall_seconds": 1.0}


def hand_table() -> pd.DataFrame:
    """Two scales (2^28, 2^30 params), baseline 50 -> 54 (2 points per doubling), mnli adds 4 or 2 points."""
    rows = []
    for scale, params, base, gain in (("s", 2 ** 28, 50.0, 4.0), ("l", 2 ** 30, 54.0, 2.0)):
        for lang in ("de", "fr", "en"):
            for seed in (0, 1):
                jitter = 0.5 * seed
                rows.append(row(scale, params, "none", lang, seed, base + jitter))
                rows.append(row(scale, params, "mnli", lang, seed, base + jitter + gain))
                rows.append(row(scale, params, "mnli", lang, seed, 10.0, metric="f1", primary=False))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def sim_gains() -> pd.DataFrame:
    return compute_gains(simulate_results(SMALL, Truth(slope=0.5), seed=4))


@pytest.fixture(scope="module")
def analysis():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analyze(simulate_results(SMALL, Truth(slope=0.4), seed=2, fail_rate=0.05), n_boot=100)


# ----------------------------------------------------------------------------- gains

def test_gains_pair_by_seed_and_give_three_measures():
    g = compute_gains(hand_table())
    assert set(g["language"]) == {"de", "fr"}, "English is excluded by default"
    assert len(g) == 2 * 2 * 2 and g.attrs["n_dropped"] == 0
    small = g[g["scale"] == "s"]
    assert np.allclose(small["gain"], 4.0), "pairing by seed cancels the seed jitter"
    b = small["baseline"].to_numpy()
    assert np.allclose(small["error_reduction"], 100 * 4.0 / (100 - b))
    assert np.allclose(small["relative_gain"], 100 * 4.0 / b)
    assert np.allclose(small["log2_params"], 28)
    assert set(compute_gains(hand_table(), exclude_languages=())["language"]) == {"de", "fr", "en"}


def test_incomplete_pairs_are_dropped_and_reported():
    t = hand_table()
    no_base = (t["scale"] == "s") & (t["intermediate_task"] == "none") & (t["language"] == "de") & (t["seed"] == 0)
    no_int = (t["scale"] == "l") & (t["intermediate_task"] == "mnli") & (t["language"] == "fr") & (t["seed"] == 1) \
        & t["primary"]
    t = t[~no_base]
    t.loc[no_int, "value"] = np.nan  # a failed run written as NaN
    g = compute_gains(t)
    assert len(g) == 6 and g.attrs["n_dropped"] == 2
    reasons = set(dropped_pairs(g)["reason"])
    assert reasons == {"no baseline score", "no intermediate score"}


def test_duplicates_keep_the_latest_and_bad_tables_fail_clearly():
    t = hand_table()
    redo = row("s", 2 ** 28, "mnli", "de", 0, 70.0, finished_at="2024-06-01T00:00:00")
    g = compute_gains(pd.concat([t, pd.DataFrame([redo])], ignore_index=True))
    assert g.attrs["n_duplicates"] == 1
    assert g.query("scale == 's' and language == 'de' and seed == 0")["gain"].item() == pytest.approx(20.0)
    two = t.copy()
    two.loc[(two["intermediate_task"] == "none") & (two["seed"] == 0), "metric"] = "f1"
    with pytest.raises(ValueError, match="more than one primary metric"):
        compute_gains(two)
    with pytest.raises(ValueError, match="lacks columns"):
        compute_gains(t.drop(columns=["primary"]))


def test_primary_read_back_from_csv_strings(tmp_path):
    path = tmp_path / "r.csv"
    hand_table().to_csv(path, index=False)
    from xw.analysis import load_results
    assert len(compute_gains(load_results(path))) == 8


# ----------------------------------------------------------------------------- models

def test_mixed_model_matches_run_means_in_a_balanced_grid(sim_gains):
    m, c = fit_slope(sim_gains), fit_cells(sim_gains)
    assert m.method.startswith("MixedLM")
    assert m.estimate == pytest.approx(c.estimate, abs=1e-8)
    assert m.se == pytest.approx(c.se, rel=0.05)
    assert m.ci_low < m.estimate < m.ci_high and m.n == len(sim_gains)
    # the headline slope is the unweighted mean of the family slopes
    assert m.family_slopes["slope_per_doubling"].mean() == pytest.approx(m.estimate, abs=1e-9)
    assert set(m.variance_components) == {"baseline run", "intermediate run", "baseline language cell", "residual"}


def test_model_degrades_gracefully(sim_gains, monkeypatch):
    one = sim_gains[sim_gains["intermediate_task"] == sim_gains["intermediate_task"].iloc[0]]
    fit = fit_slope(one)
    assert any("one intermediate task" in n for n in fit.notes) and np.isfinite(fit.se)
    crossed = fit_slope(sim_gains[sim_gains["seed"] == 0], random="crossed")
    assert any("'seed' has one level" in n for n in crossed.notes)

    def boom(*a, **k):
        raise np.linalg.LinAlgError("Singular matrix")

    monkeypatch.setattr(models.MixedLM, "fit", boom)
    fb = fit_slope(sim_gains)
    assert fb.method == "OLS on baseline-run means"
    assert any("fell back" in n and "Singular matrix" in n for n in fb.notes)
    assert fb.estimate == pytest.approx(fit_cells(sim_gains).estimate)
    with pytest.raises(ValueError, match="two scales"):
        fit_slope(sim_gains[sim_gains["scale"] == sim_gains["scale"].iloc[0]])


def test_per_target_slopes_and_heterogeneity(sim_gains):
    per = fit_per(sim_gains)
    assert len(per) == sim_gains["target_task"].nunique()
    assert per["slope_per_doubling"].notna().all() and (per["se"] > 0).all()
    same = pd.DataFrame({"slope_per_doubling": [0.3, 0.3, 0.3], "se": [0.1, 0.1, 0.1]})
    h = heterogeneity(same)
    assert h["Q"] == pytest.approx(0) and h["I2"] == 0 and "consistent" in h["statement"]
    apart = pd.DataFrame({"slope_per_doubling": [-1.0, 0.0, 1.0], "se": [0.1, 0.1, 0.1]})
    h = heterogeneity(apart)
    assert h["Q"] == pytest.approx(200) and h["I2"] > 0.9 and "disagree" in h["statement"]


def test_cluster_bootstrap(sim_gains):
    b1 = cluster_bootstrap(sim_gains, n_boot=200, seed=1)
    b2 = cluster_bootstrap(sim_gains, n_boot=200, seed=1)
    assert b1.ci_low == b2.ci_low and b1.ci_high == b2.ci_high, "seeded, so reproducible"
    assert b1.ci_low < b1.estimate < b1.ci_high
    assert b1.ci_high - b1.ci_low > b1.raw_ci_high - b1.raw_ci_low, "small-sample scaling widens"
    assert b1.estimate == pytest.approx(fit_cells(sim_gains).estimate, abs=0.05)
    assert "Cluster bootstrap" in b1.describe()


def test_compute_equivalent_gain_line_and_interpolation():
    t = hand_table()
    g = compute_gains(t)
    eq = compute_equivalent_gain(g, t)
    small = eq[eq["scale"] == "s"].iloc[0]
    assert small["baseline_slope"] == pytest.approx(2.0)
    assert small["doublings"] == pytest.approx(2.0) and small["param_factor"] == pytest.approx(4.0)
    large = eq[eq["scale"] == "l"].iloc[0]
    assert large["param_factor"] == pytest.approx(2.0) and large["note"] == "extrapolated beyond the ladder"
    interp = compute_equivalent_gain(g, t, method="interpolate")
    assert interp["param_factor"].to_numpy() == pytest.approx(eq["param_factor"].to_numpy())
    flat = t.copy()
    flat.loc[flat["intermediate_task"] == "none", "value"] = 50.0
    assert compute_equivalent_gain(compute_gains(flat), flat)["param_factor"].isna().all()


def test_language_covariates(sim_gains):
    langs = sorted(sim_gains["language"].unique())
    meta = pd.DataFrame({"language": langs, "family": ["a", "b", "a", "b"], "script": ["x", "x", "y", "y"],
                         "pretrain_size": [1e9, 2e9, 8e9, 3e10]})
    out = fit_language_covariates(sim_gains, meta)
    assert {"C(language_family, Sum)[S.a]", "x:log2_pretrain_size"} <= set(out["term"])
    assert out["se"].notna().all()
    assert fit_language_covariates(sim_gains, pd.DataFrame({"language": langs})).empty


# ----------------------------------------------------------------------------- verdict

def _fit(est: float, lo: float, hi: float, measure: str = "absolute") -> SlopeFit:
    return SlopeFit(measure, "points", est, 0.1, lo, hi, 0.01, 20, 100, 12, "MixedLM", "runs")


def test_verdict_words_and_sentences():
    assert verdict_word(_fit(0.3, 0.1, 0.5)) == "amplifies"
    assert verdict_word(_fit(-0.3, -0.5, -0.1)) == "diminishes"
    assert verdict_word(_fit(0.1, -0.1, 0.3)) == "no evidence"
    s = verdict_sentence(_fit(-0.3, -0.5, -0.1))
    assert s.startswith("Scale diminishes") and "absolute gain shrinks by 0.30 points per doubling" in s
    assert "95% CI -0.50 to -0.10" in s
    assert verdict_sentence(_fit(0.1, -0.1, 0.3)).startswith("No evidence")
    table = verdict_table({"absolute": _fit(0.3, 0.1, 0.5), "relative": _fit(0.1, -0.1, 0.3, "relative")})
    assert list(table["verdict"]) == ["amplifies", "no evidence"]


def test_analyze_summary_leads_with_the_verdict(analysis):
    text = analysis.summary()
    first = text.splitlines()[0]
    assert first == analysis.verdict and first.split()[0] in {"Scale", "No"}
    assert f"VERDICT: {analysis.verdict_word} | " in text
    assert "incomplete pairs dropped" in text and analysis.dropped()["reason"].notna().all()
    assert list(analysis.verdict_table()["measure"]) == ["absolute", "error_reduction", "relative"]
    assert len(analysis.equivalent_summary()) and len(analysis.bootstrap_table()) == 2


def test_figures_are_plotly(analysis):
    figs = [analysis.fig_gain_vs_params(), analysis.fig_heatmap(), analysis.fig_language(), analysis.fig_forest(),
            analysis.fig_baseline()]
    for fig in figs:
        assert isinstance(fig, go.Figure) and len(fig.data) > 0
    assert figs[0].layout.xaxis.type == "log"
    assert isinstance(figures.forest(analysis.per_target), go.Figure)


# ----------------------------------------------------------------------------- notebook

@pytest.mark.slow
def test_notebook_runs_under_papermill(tmp_path):
    import nbformat
    import papermill

    results = tmp_path / "results.csv"
    simulate_results(SMALL, Truth(slope=0.3), seed=9, fail_rate=0.03).to_csv(results, index=False)
    out = tmp_path / "analysis.ipynb"
    papermill.execute_notebook(str(ROOT / "notebooks" / "analysis.ipynb"), str(out),
                               parameters={"results_path": str(results), "n_boot": 100}, kernel_name="python3",
                               cwd=str(ROOT / "notebooks"), start_timeout=120, execution_timeout=300,
                               progress_bar=False)
    nb = nbformat.read(out, as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "VERDICT: " in text
    html = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(html) >= 5, "figures are embedded for nbconvert"
