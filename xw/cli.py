"""The ``xw`` command: run the grid, see where it stands, run one cell by hand.

A mistake a user can fix (xw.errors.XWError) is printed as one line, ``xw: error: ...``,
with exit code 2 and no traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from xw.errors import ParameterError, XWError

EXIT_USER_ERROR = 2


def _load(args: argparse.Namespace):
    from xw.study import load_study

    return load_study(args.params, args.output_root)


def cmd_grid(args: argparse.Namespace) -> int:
    from xw.grid import NOTEBOOKS_DIR, run_grid
    from xw.plan import check_fits

    study = _load(args)
    try:
        check_fits(study)  # a rung that cannot fit its declared GPUs is refused before any cell starts
    except ParameterError:
        raise
    except XWError:
        pass  # a rung whose config cannot be read here fails in its own cells, with that reason
    report = run_grid(study, workers=args.workers, notebooks_dir=args.notebooks or NOTEBOOKS_DIR,
                      progress=not args.no_progress, gain_measure=args.gain_measure,
                      executor=args.executor or study.executor.kind, wait=not args.no_wait,
                      only=args.only)
    if not report.waited:
        print(f"{report.study}: {report.total} cells, {len(report.already_done)} already done, "
              f"{len(report.jobs) - 1} Slurm cell jobs queued; analysis job {report.jobs.get('analysis')} writes "
              f"{report.output_dir / 'report.html'} when they end. Follow with `xw status {args.params}`.")
        return 0
    print(f"{report.study}: {report.total} cells, {len(report.already_done)} already done, "
          f"{len(report.succeeded)} run now, {len(report.failed)} failed, {len(report.skipped)} skipped")
    for cell_id, error in {**report.failed, **report.skipped}.items():
        print(f"  not done: {cell_id}: {error.splitlines()[0] if error else ''}")
    if report.failed or report.skipped:
        print(f"  details: {report.output_dir / 'failed'}/; re-run `xw grid` to retry them (done cells are kept)")
    if report.analysis_error:
        print(f"xw: analysis: {report.analysis_error}", file=sys.stderr)
    print(report.verdict or "VERDICT: (none; see the analysis notebook)")
    print(f"report: {report.report_path}")
    return 0 if report.ok else 1


def cmd_status(args: argparse.Namespace) -> int:
    from xw.executors.slurm import job_notes
    from xw.ledger import cell_states

    study = _load(args)
    states = cell_states(study)
    jobs = job_notes(study)  # empty unless the grid ran with --executor slurm
    order = ("done", "running", "failed", "skipped", "pending")
    counts = {state: sum(s.state == state for s in states) for state in order}
    print(f"{study.name}: {len(states)} cells  " + "  ".join(f"{state} {n}" for state, n in counts.items()))
    width = max((len(s.cell.id) for s in states), default=4)
    print(f"{'state':<8} {'cell':<{width}}  note")
    for s in states:
        note = "; ".join(n for n in (s.note, jobs.get(s.cell.id, "") if s.state != "done" else "") if n)
        print(f"{s.state:<8} {s.cell.id:<{width}}  {note}".rstrip())
    from xw.checkpoints import stale_checkpoints

    for path in stale_checkpoints(study):  # an upgrade or new revision changed the key: these are not reused
        print(f"stale checkpoint (not reused; delete to free space): {path}")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    import pandas as pd

    from xw.memory import USABLE_FRACTION
    from xw.plan import check_fits, data_error, measured, plan, reuse_summary

    if not (args.peak_tflops > 0 and 0 < args.mfu <= 1):
        raise XWError(f"--peak-tflops must be > 0 and --mfu in (0, 1]; got {args.peak_tflops} and {args.mfu}")
    study = _load(args)
    memory = check_fits(study)  # before the slow token counts: a rung that cannot fit is refused at once
    table = plan(study, peak_tflops=args.peak_tflops, mfu=args.mfu)
    done = measured(study)
    table = table.merge(done, on="scale", how="left") if not done.empty else table
    reuse = reuse_summary(study)
    print(f"{study.name}: {reuse['cells']} cells ({reuse['intermediate_cells']} intermediate, "
          f"{reuse['target_cells']} target) -> {reuse['trainings']} trainings: "
          f"{reuse['intermediate_trainings']} intermediate checkpoints, each trained once and reused by every "
          f"target cell of its (scale, task, seed), + {reuse['target_trainings']} fine-tunings "
          f"(without the cache: {reuse['trainings_without_cache']})")
    shown = table.copy()
    shown["params"] = shown["params"].map(_count_str)
    shown["training_tokens"] = shown["training_tokens"].map(_count_str)
    shown["train_flops"] = shown["train_flops"].map(lambda f: f"{f:.2e}")
    shown["est_gpu_hours"] = shown["est_gpu_hours"].map(lambda h: f"{h:,.2f}")
    if "measured_hours" in shown:
        shown["measured_hours"] = shown["measured_hours"].map(lambda h: "" if pd.isna(h) else f"{h:,.3f}")
        shown["finished_cells"] = shown["finished_cells"].map(lambda n: "" if pd.isna(n) else str(int(n)))
    columns = [c for c in ("scale", "params", "cells", "intermediate_trainings", "target_trainings",
                           "training_tokens", "train_flops", "est_gpu_hours", "measured_hours", "finished_cells",
                           "token_counts") if c in shown]
    print(shown[columns].to_string(index=False))
    print(f"total: {table['train_flops'].sum():.2e} FLOPs, {table['est_gpu_hours'].sum():,.2f} GPU-hours at "
          f"{args.peak_tflops:g} TFLOP/s peak x {args.mfu:.0%} MFU (6 x params x training tokens; evaluation and "
          "mini-world pretraining not counted)")
    if "measured_hours" in table:
        print(f"measured: {table['measured_hours'].sum():,.3f} hours over "
              f"{int(table['finished_cells'].fillna(0).sum())} finished cells (papermill durations on the machines "
              "that ran them; a mini scale's first cell includes its pretraining)")
    gib = {c: memory[c].map(lambda v: f"{v:.1f}") for c in ("states_gib", "activations_gib", "checkpointed_gib",
                                                            "per_gpu_gib")}
    print(f"\nmemory per GPU (GiB) of each rung's largest training step, on {study.executor.gpu_memory_gb:g} GB GPUs "
          f"({USABLE_FRACTION:.0%} usable; xw/memory.py):")
    print(memory.assign(**gib, gpus_needed=memory["gpus_needed"].map(lambda n: "none fit" if pd.isna(n) else
                                                                        str(int(n))))
          .drop(columns=["params", "fits"]).to_string(index=False))
    print("states = 16 bytes/parameter (fp32 weights, grads, AdamW moments) / ranks (gpus x nodes); activations"
          " (bf16) of largest_step / ranks, without / with checkpointing; per_gpu uses the rung's checkpointing;"
          " gpus_needed = fewest ranks that fit it")
    missing = sorted({t for cell in table["missing_data"] for t in cell.split(", ") if t})
    errors = {t: error for t in missing if (error := data_error(study, t)) is not None}
    if errors:  # an estimate without their tokens would read as "cheap": refuse it, with the reason
        reasons = "; ".join(f"{t}: {error}" for t, error in errors.items())
        raise XWError(f"no training data found for {sorted(errors)}, so the estimate above leaves their tokens "
                      f"out (data.source {study.data.source!r}, data.root {study.data.root!r}): {reasons}")
    if missing:
        print(f"empty training data for {missing}: their tokens are not counted (check data.source / data.root)")
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    """Every registered task: kind, role, languages, splits, metric, and where its data was looked for."""
    from xw.data import data_config
    from xw.tasks import all_tasks

    study = _load(args) if args.params else None
    rows = []
    for name, task in sorted(all_tasks().items()):
        splits = "/".join(s for s in (task.train_split, task.dev_split, task.eval_split) if s)
        langs = ",".join(task.languages) if len(task.languages) <= 8 else (
            f"{','.join(task.languages[:8])},... ({len(task.languages)})")
        metric = task.metric + (f":{task.primary_metric}" if task.primary_metric else "")
        if study is None:
            data = task.data_hint or "(pass a study file to look for the data)"
        else:
            language = "en" if task.train_split else task.languages[0]
            split = task.train_split or task.eval_split_for(language)
            try:
                task.loader(split, language, data_config(study))
                data = f"found ({split}/{language}, data.source {study.data.source})"
            except Exception as err:  # noqa: BLE001 - the loader's message says where it looked
                data = f"not found ({split}/{language}): {' '.join(str(err).split())}"
        rows.append((name, task.kind, task.role, langs, splits, metric, data))
    header = ("task", "kind", "role", "languages", "splits (train/dev/eval)", "metric", "data")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in (header, *rows):
        print("  ".join(f"{cell:<{w}}" for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
    return 0


def _count_str(n: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:,.1f}{unit}"
    return f"{n:.0f}"


def cmd_run_cell(args: argparse.Namespace) -> int:
    from xw import cells
    from xw.layout import result_path
    from xw.ledger import clear_failure

    study = _load(args)
    cell = cells.Cell("target" if args.target else "intermediate", args.scale, args.intermediate, args.seed,
                      args.target or None)
    grid = cells.expand_grid(study)
    if cell not in grid:
        study.scale(args.scale)  # names the ladder if the scale is the problem
        targets = sorted({c.target for c in grid if c.target})
        raise XWError(f"cell {cell.id} is not in the grid of {args.params}: intermediate must be one of "
                      f"{list(study.intermediate_tasks)}, --target one of {targets} (or none), --seed one of "
                      f"{list(study.seeds)}")
    results = cells.run_cell(study, cell, progress=not args.no_progress)
    clear_failure(study, cell)
    shown = results[results["primary"].astype(bool)] if "primary" in results else results
    columns = [c for c in ("scale", "intermediate_task", "target_task", "language", "metric", "value")
               if c in shown]
    print((shown[columns] if columns else shown).to_string(index=False))
    print(f"wrote {result_path(study, cell)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xw", description="Does model scale amplify or diminish English "
                                     "intermediate-task gains on zero-shot XTREME transfer?")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("params", type=Path, help="study parameters file, e.g. parameters/demo.yaml")
        p.add_argument("--output-root", type=Path, default=Path("outputs"),
                       help="where outputs/<study>/ lives (default: ./outputs)")

    p = sub.add_parser("grid", help="run every pending cell notebook, the analysis, and write the report")
    common(p)
    p.add_argument("--workers", type=int, default=None, help="cells run at once (default: executor.workers)")
    p.add_argument("--executor", choices=("local", "slurm"), default=None,
                   help="where cells run: worker processes here, or one Slurm job per cell (default: executor.kind)")
    p.add_argument("--no-wait", action="store_true",
                   help="slurm: return once the jobs are submitted (the analysis job writes the report)")
    p.add_argument("--gain-measure", default=None, help="passed to the analysis notebook's gain_measure")
    p.add_argument("--notebooks", type=Path, default=None, help="folder with the cell notebooks")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--only", action="append", default=[], metavar="KEY=VALUE",
                   help="run only the cells with KEY=VALUE (keys: kind, scale, intermediate, target, seed); "
                        "repeat it: values of one key are alternatives, different keys must all match")
    p.set_defaults(func=cmd_grid)

    p = sub.add_parser("tasks", help="list every registered task: kind, languages, splits, metric, its data")
    p.add_argument("params", type=Path, nargs="?", default=None,
                   help="a study file: look for each task's data where that study would (default: show hints)")
    p.add_argument("--output-root", type=Path, default=Path("outputs"), help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_tasks)

    p = sub.add_parser("status", help="count and list done / running / failed / pending cells")
    common(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("plan", help="cells, training tokens, FLOPs and GPU-hours per scale; measured time after a run")
    common(p)
    p.add_argument("--peak-tflops", type=float, default=989.0,
                   help="the GPU's dense bf16 peak in TFLOP/s (default: H100 SXM, 989)")
    p.add_argument("--mfu", type=float, default=0.4, help="assumed model FLOPs utilisation (default 0.4)")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("run-cell", help="run one cell in this process, without papermill (debugging, Slurm)")
    common(p)
    p.add_argument("--scale", required=True)
    p.add_argument("--intermediate", required=True, help="an intermediate task, 'none' or 'multi'")
    p.add_argument("--target", default=None, help="a target task (omit for the intermediate cell)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_run_cell)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("xw")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed; `make setup` installs it)"


def _interrupt_on_sigterm() -> None:
    """Treat SIGTERM (scancel, kill) like Ctrl-C, so the grid kills its kernels before it exits."""
    import signal
    import threading

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "grid":
        _interrupt_on_sigterm()
    try:
        return args.func(args)
    except XWError as err:
        print("xw: error: " + " ".join(str(err).split()), file=sys.stderr)  # one line, even for YAML errors
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("xw: interrupted (finished cells are kept; re-run to resume)", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `xw status ... | head`: the reader left; stop quietly, as a Unix tool does
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not raise again
        return 128 + 13  # killed by SIGPIPE, the exit status a shell expects


if __name__ == "__main__":
    sys.exit(main())
