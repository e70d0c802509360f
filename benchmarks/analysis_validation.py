"""Does the analysis find the slope that was put in? Coverage, sign recovery and power tables.

    python benchmarks/analysis_validation.py            # full: >= 200 simulated studies per setting
    python benchmarks/analysis_validation.py --quick    # a smoke run (40 per setting)

Tables printed:
1. the verdict's estimator (MixedLM, groups = baseline runs, through the whole pipeline from a
   simulated results table) at a positive, zero and negative true slope;
2. the same null studies under other estimators: the textbook crossed MixedLM (target, language,
   seed components only), OLS with cluster-robust SEs, OLS on run means, and the cluster bootstrap;
3. a misspecified world where targets differ in their true slopes (coverage of the mean slope);
4. the power table: smallest slope detected 80% of the time, per grid (fast estimator, which equals
   the verdict's estimator in a balanced grid; checked by simulation at that slope).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import itertools  # noqa: E402
import logging  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import replace  # noqa: E402

import pandas as pd  # noqa: E402

from xw.analysis.simulate import (  # noqa: E402
    XTREME_TARGETS,
    Grid,
    Truth,
    power_table,
    run_studies,
    summarize,
    validate,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--sims", type=int, default=200, help="simulated studies per setting (>= 200 for the report)"
    )
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    ap.add_argument("--quick", action="store_true", help="40 studies per setting, small power grid")
    ap.add_argument(
        "--slope", type=float, default=0.25, help="|true slope| for the +/- settings, points/doubling"
    )
    args = ap.parse_args()
    n = 40 if args.quick else args.sims
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 30)
    t_all = time.perf_counter()
    truth = Truth()
    grid = Grid.make(n_scales=4, n_intermediates=3, n_targets=6, n_languages=8, n_seeds=3)
    print(f"Truth (points): {truth}\n")

    print(f"== 1. Verdict estimator, {grid.describe()}, {n} studies per slope ==")
    t0 = time.perf_counter()
    cov = validate(
        grid,
        slopes=(args.slope, 0.0, -args.slope),
        n_sims=n,
        estimator="mixed",
        truth=truth,
        seed=1,
        n_jobs=args.jobs,
    )
    print(cov.round(3).to_string(index=False))
    print(f"[{time.perf_counter() - t0:.0f} s]\n")

    print(f"== 2. Other estimators on the same null studies (true slope 0), {n} each ==")
    t0 = time.perf_counter()
    rows = []
    null = replace(truth, slope=0.0)
    for est in ("crossed", "ols-cluster", "cells"):
        runs = run_studies(grid, null, n, est, seed=1 + 7919, n_jobs=args.jobs)
        rows.append(summarize(runs))
    boot = run_studies(grid, null, n, "cells", seed=1 + 7919, bootstrap=300, n_jobs=args.jobs)
    row = summarize(boot)
    # at a true slope of 0 the verdict is right exactly when the interval covers 0
    rows.append(
        {
            **row,
            "method": "cluster bootstrap (300), percentile, sqrt(k/(k-1)) scaled",
            "coverage": row["bootstrap_coverage"],
            "verdict_correct": row["bootstrap_coverage"],
        }
    )
    rows.append(
        {
            **row,
            "method": "cluster bootstrap (300), raw percentile",
            "coverage": row["raw_bootstrap_coverage"],
            "verdict_correct": row["raw_bootstrap_coverage"],
        }
    )
    table = pd.DataFrame(rows).drop(
        columns=["bootstrap_coverage", "raw_bootstrap_coverage", "mean_se"], errors="ignore"
    )
    print(table.round(3).to_string(index=False))
    print("(bootstrap rows: estimate is the run-means slope; only the interval differs)")
    print(f"[{time.perf_counter() - t0:.0f} s]\n")

    print("== 3. Misspecified: per-target true slopes differ (SD 0.15), coverage of the mean slope ==")
    t0 = time.perf_counter()
    xgrid = Grid(targets=XTREME_TARGETS, intermediates=("mnli", "squad", "multi"))
    mis = validate(
        xgrid,
        slopes=(args.slope,),
        n_sims=n,
        estimator="fast",
        truth=replace(truth, sd_target_slope=0.15),
        seed=3,
    )
    print(xgrid.describe())
    print(mis.round(3).to_string(index=False))
    print(f"[{time.perf_counter() - t0:.0f} s]\n")

    print(f"== 4. Power: smallest slope detected 80% of the time (alpha 0.05), {n} studies per check ==")
    t0 = time.perf_counter()
    scales = (3, 4, 6) if not args.quick else (3, 4)
    langs = (5, 10, 20) if not args.quick else (5, 10)
    seeds = (1, 3, 5) if not args.quick else (1, 3)
    grids = [
        Grid.make(n_scales=s, n_intermediates=3, n_targets=9, n_languages=n_l, n_seeds=k)
        for s, n_l, k in itertools.product(scales, langs, seeds)
    ]
    power = power_table(grids, truth, n_sims=n, seed=5)
    print(
        "(3 intermediate tasks, 9 targets over the 4 families, ladder 270M-10.7B; slopes in points per doubling;"
        " mds_over_ladder = change of the gain across the whole ladder)"
    )
    print(power.round(3).to_string(index=False))
    print(f"[{time.perf_counter() - t0:.0f} s]\n")
    print(f"total {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
