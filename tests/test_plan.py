"""`xw plan`: cells vs trainings, tokens and FLOPs with known answers, measured time after a run."""

from __future__ import annotations

import json

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_notebook

from xw import cli, plan
from xw.layout import executed_dir, result_path
from xw.results import COLUMNS
from xw.study import study_from_dict
from xw.tasks import TaskSpec, override

EXAMPLES = [{"text": "a b c d", "label": 0}] * 10  # 4 words -> 1.4 * 4 + 2 = 7.6 estimated tokens each


@pytest.fixture()
def plan_tasks():
    """Two tiny classification tasks, registered for the test only."""
    specs = [TaskSpec(name=name, kind="classification", family="classification", role=role,
                      languages=("en", "de"), metric="accuracy", label_names=("a", "b"),
                      loader=lambda split, language, config: EXAMPLES)
             for name, role in (("plan-int", "intermediate"), ("plan-cls", "target"))]
    with override(*specs):
        yield specs


@pytest.fixture()
def study(tmp_path, plan_tasks):
    raw = {"study": "plantest", "models": {"ladder": [{"name": "base", "hub": "xlm-roberta-base"},
                                                      {"name": "large", "hub": "xlm-roberta-large"}]},
           "intermediate_tasks": ["none", "plan-int"], "target_tasks": ["plan-cls"], "seeds": [0, 1],
           "training": {"default": {"epochs": 2}, "tasks": {"plan-cls": {"epochs": 3}}}}
    path = tmp_path / "plantest.yaml"
    path.write_text(json.dumps(raw))
    return study_from_dict(raw, path, tmp_path / "outputs")


def test_known_hub_configs_count_the_published_sizes():
    counts = {hub: plan._count(*cfg) for hub, cfg in plan.KNOWN_CONFIGS.items()}
    assert counts["xlm-roberta-base"] == 278_043_648  # HF XLMRobertaModel with pooler
    assert 555e6 < counts["xlm-roberta-large"] < 565e6  # fairseq README: 560M
    assert 3.4e9 < counts["facebook/xlm-roberta-xl"] < 3.6e9  # 3.5B
    assert 10.5e9 < counts["facebook/xlm-roberta-xxl"] < 10.9e9  # 10.7B


def test_plan_counts_cells_trainings_tokens_and_flops(study):
    reuse = plan.reuse_summary(study)
    # 2 scales x 2 intermediates x 2 seeds intermediate cells; as many target cells (one target)
    assert reuse["cells"] == 16 and reuse["intermediate_cells"] == 8 and reuse["target_cells"] == 8
    # 'none' trains nothing: 2 scales x 1 task x 2 seeds checkpoints, each reused by its target cell
    assert reuse["intermediate_trainings"] == 4 and reuse["trainings"] == 12
    assert reuse["trainings_without_cache"] == 8 + 4 + 4

    table = plan.plan(study, peak_tflops=100.0, mfu=0.5).set_index("scale")
    per_example = 1.4 * 4 + 2
    # per scale: 2 intermediate trainings x 2 epochs + 4 target trainings x 3 epochs, 10 examples each
    tokens = 10 * per_example * (2 * 2 + 4 * 3)
    for scale in ("base", "large"):
        row = table.loc[scale]
        assert row["training_tokens"] == int(tokens)
        assert row["train_flops"] == pytest.approx(6 * row["params"] * tokens)
        assert row["est_gpu_hours"] == pytest.approx(row["train_flops"] / (100e12 * 0.5) / 3600)
        assert row["token_counts"] == "word estimate"  # offline: no tokenizer for the hub ids
    assert table.loc["large", "params"] > 2 * table.loc["base", "params"]


def test_cli_plan_prints_the_estimate_then_the_measured_time(study, capsys):
    args = [str(study.path), "--output-root", str(study.output_root)]
    assert cli.main(["plan", *args]) == 0
    out = capsys.readouterr().out
    assert "16 cells" in out and "12 trainings" in out and "without the cache: 16" in out
    assert "measured" not in out

    # one finished cell run by papermill (its duration counts) and one by `xw run-cell` (its wall time)
    cells = [c for c in plan.expand_grid(study) if c.scale == "base" and c.seed == 0 and c.intermediate == "none"]
    for cell, seconds in zip(cells, (1800.0, 900.0), strict=True):
        row = dict.fromkeys(COLUMNS, "")
        row.update(scale="base", intermediate_task="none", target_task=cell.target or "", seed=0, value=1.0,
                   wall_seconds=seconds)
        result_path(study, cell).parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame([row], columns=COLUMNS).to_csv(result_path(study, cell), index=False)
    notebook = new_notebook(metadata={"papermill": {"duration": 3600.0, "exception": None}})
    executed_dir(study).mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, executed_dir(study) / f"{cells[0].id}.ipynb")

    done = plan.measured(study).set_index("scale")
    assert done.loc["base", "finished_cells"] == 2
    assert done.loc["base", "measured_hours"] == pytest.approx(1.0 + 0.25)
    assert cli.main(["plan", *args]) == 0
    assert "measured: 1.250 hours over 2 finished cells" in capsys.readouterr().out


def test_cli_plan_rejects_a_bad_mfu(study, capsys):
    assert cli.main(["plan", str(study.path), "--mfu", "40"]) == 2
    assert "--mfu" in capsys.readouterr().err
