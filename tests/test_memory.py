"""Memory per GPU (xw.memory, `xw plan`): issue 16's measured table reproduced from the real XLM-R configs
(counted on the meta device, no download), the refusal of a rung that cannot fit, and the rung resources
validated when the study loads."""

from __future__ import annotations

import json

import pytest

from xw import cli, memory, plan
from xw.checkpoints import pretrained_key
from xw.errors import ParameterError
from xw.executors.slurm import job_resources
from xw.study import load_study, study_from_dict
from xw.tasks import TaskSpec, override

# issue 16: seq 256, batch 32, bf16 activations; GiB of weights+grads+AdamW, activations without / with checkpointing
TABLE = {"xlm-roberta-base": (4.1, 3.4, 0.6), "xlm-roberta-large": (8.3, 9.0, 1.1),
         "facebook/xlm-roberta-xl": (51.9, 33.8, 3.8), "facebook/xlm-roberta-xxl": (159.6, 72.0, 7.5)}


@pytest.mark.parametrize("hub", sorted(TABLE))
def test_the_memory_model_reproduces_the_measured_table(hub):
    model_type, fields = plan.KNOWN_CONFIGS[hub]
    estimate = memory.rung_memory(plan._count(model_type, fields), fields["hidden_size"],
                                  fields["num_hidden_layers"], 32 * 256, ranks=1, checkpointing=False)
    got = [estimate.states / memory.GIB, estimate.activations_plain / memory.GIB,
           estimate.activations_checkpointed / memory.GIB]
    for value, expected in zip(got, TABLE[hub], strict=True):
        assert value == pytest.approx(expected, abs=0.051)  # the table shows one decimal
        assert value == pytest.approx(expected, rel=0.07)


def test_sharding_divides_states_and_tokens_and_checkpointing_is_chosen():
    plain = memory.rung_memory(10**9, 1024, 24, 8192, ranks=1, checkpointing=False)
    sharded = memory.rung_memory(10**9, 1024, 24, 8192, ranks=4, checkpointing=True)
    assert sharded.states == pytest.approx(plain.states / 4)
    assert sharded.activations_plain == pytest.approx(plain.activations_plain / 4)
    assert sharded.total == pytest.approx(sharded.states + sharded.activations_checkpointed)
    assert plain.total == pytest.approx(plain.states + plain.activations_plain)
    # XXL: 159.6 + 72 GiB on one GPU; 2 x 141 GB fit without checkpointing, 80 GB cards need 4
    xxl = plan.KNOWN_CONFIGS["facebook/xlm-roberta-xxl"]
    args = (plan._count(*xxl), xxl[1]["hidden_size"], xxl[1]["num_hidden_layers"], 32 * 256, False)
    assert memory.ranks_needed(*args, gpu_memory_gb=80, allowed=[1, 2, 4]) == 4
    assert memory.ranks_needed(*args, gpu_memory_gb=141, allowed=[1, 2, 4]) == 2
    assert memory.ranks_needed(*args, gpu_memory_gb=80, allowed=[1, 2]) is None


@pytest.fixture()
def tasks():
    specs = [TaskSpec(name=name, kind="classification", family="classification", role=role, languages=("en", "de"),
                      metric="accuracy", label_names=("a", "b"), loader=lambda split, language, config: [])
             for name, role in (("mem-int", "intermediate"), ("mem-cls", "target"))]
    with override(*specs):
        yield specs


def _raw(**xl):
    return {"study": "memtest",
            "models": {"ladder": [{"name": "base", "hub": "xlm-roberta-base"},
                                  {"name": "xl", "hub": "facebook/xlm-roberta-xl", **xl}]},
            "intermediate_tasks": ["none", "mem-int"], "target_tasks": ["mem-cls"],
            "training": {"default": {"batch_size": 4, "max_length": 256},
                         "tasks": {"mem-cls": {"batch_size": 32, "max_length": 256}}}}


def _write(tmp_path, raw):
    path = tmp_path / "memtest.yaml"
    path.write_text(json.dumps(raw))
    return path


def test_plan_refuses_a_rung_that_cannot_fit_its_gpus(tmp_path, tasks, capsys):
    path = _write(tmp_path, _raw())
    with pytest.raises(ParameterError) as info:
        plan.check_fits(load_study(path))
    message = str(info.value)
    assert str(path) in message and "models.ladder[1]" in message and "'xl'" in message
    assert "85.6 GiB per GPU" in message and "72.0 GiB" in message and "mem-cls 32x256" in message
    assert "activation_checkpointing: true (55.6 GiB per GPU)" in message and "gpus: 2" in message
    assert cli.main(["plan", str(path), "--output-root", str(tmp_path / "out")]) == 2
    assert "rung 'xl' needs 85.6 GiB" in capsys.readouterr().err

    # the two fixes it names both fit; so does a bigger card
    for fixed in (_raw(activation_checkpointing=True), _raw(gpus=2), {**_raw(), "executor": {"gpu_memory_gb": 141}}):
        table = plan.check_fits(load_study(_write(tmp_path, fixed))).set_index("scale")
        assert table["fits"].all()
    table = plan.memory(load_study(_write(tmp_path, _raw(gpus=2)))).set_index("scale")
    assert table.loc["xl", "per_gpu_gib"] == pytest.approx(51.9 / 2 + 33.8 / 2, abs=0.1)
    assert table.loc["xl", "gpus_needed"] == 2 and table.loc["base", "gpus_needed"] == 1


def test_cli_plan_prints_memory_per_rung(tmp_path, tasks, capsys):
    path = _write(tmp_path, _raw(activation_checkpointing=True))
    assert cli.main(["plan", str(path), "--output-root", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "memory per GPU (GiB)" in out and "on 80 GB GPUs (90% usable" in out
    xl = [line for line in out.splitlines() if line.split()[:1] == ["xl"]][-1]  # the memory table comes last
    assert xl.split()[1:5] == ["1", "1", "mem-cls", "32x256"] and "51.9" in xl and "33.8" in xl and "55.6" in xl


@pytest.mark.parametrize(("rung", "expected"), [
    ({"gpus": 0}, r"key 'models.ladder\[1\].gpus': must be at least 1, got 0"),
    ({"nodes": 0}, r"key 'models.ladder\[1\].nodes': must be at least 1"),
    ({"gpus": 8}, r"key 'models.ladder\[1\].gpus': rung 'xl' runs 8 ranks \(gpus 8 x nodes 1\) x grad_accumulation 1, "
                  r"which does not divide task 'mem-int''s batch_size 4 \(training.default\); use ranks in \[1, 2, 4\]"),
    ({"gpus": 4, "nodes": 2}, r"rung 'xl' runs 8 ranks \(gpus 4 x nodes 2\)"),
    ({"gpus": 3}, r"does not divide task 'mem-int''s batch_size 4"),
])
def test_rung_resources_are_validated_at_load(tmp_path, tasks, rung, expected):
    path = _write(tmp_path, _raw(**rung))
    with pytest.raises(ParameterError, match=expected) as info:
        load_study(path)
    assert str(path) in str(info.value)


def test_ranks_must_divide_every_trained_batch_and_slurm_gpus_are_per_rung(tmp_path, tasks):
    raw = _raw(gpus=4)
    raw["training"]["tasks"]["mem-cls"]["batch_size"] = 30  # 4 ranks cannot split 30
    with pytest.raises(ParameterError, match=r"task 'mem-cls''s batch_size 30 \(training.tasks.mem-cls\)"):
        study_from_dict(raw, tmp_path / "s.yaml")
    raw = {**_raw(), "executor": {"slurm": {"gpus_per_node": 4}}}
    with pytest.raises(ParameterError, match=r"executor.slurm.gpus_per_node': got 4; a cell's GPUs are now its rung's"):
        study_from_dict(raw, tmp_path / "s.yaml")

    study = study_from_dict(_raw(gpus=4, nodes=1), tmp_path / "s.yaml")
    assert job_resources(study, study.scale("xl")) == {"nodes": 1, "ntasks_per_node": 1, "gpus_per_node": 4}
    assert job_resources(study, None) == {"nodes": 1, "ntasks_per_node": 1, "gpus_per_node": 1}
    cpu = study_from_dict({**_raw(gpus=4), "executor": {"slurm": {"gpus_per_node": 0}}}, tmp_path / "s.yaml")
    assert job_resources(cpu, cpu.scale("xl"))["gpus_per_node"] is None  # a CPU partition: no GPU request


def test_resources_change_no_cache_key(tmp_path, tasks):
    """A checkpoint does not depend on how many GPUs trained it: the key hashes only the model's fields, as
    before the resource keys existed (so existing caches stay valid)."""
    from xw.params import config_hash

    one = study_from_dict(_raw(), tmp_path / "s.yaml")
    four = study_from_dict(_raw(gpus=4, activation_checkpointing=True), tmp_path / "s.yaml")
    assert pretrained_key(one, one.scale("xl")) == pretrained_key(four, four.scale("xl"))
    old_fields = {"name": "xl", "hub": "facebook/xlm-roberta-xl", "path": None, "layers": None, "hidden": None,
                  "heads": None, "intermediate_size": None}
    assert pretrained_key(one, one.scale("xl")) == config_hash(one.data.world_seed, old_fields, one.pretrain)


def test_repository_studies_fit_the_gpus_they_declare():
    for name in ("paper", "paper-local", "one-gpu"):
        study = load_study(f"parameters/{name}.yaml")
        table = plan.check_fits(study).set_index("scale")
        assert table["fits"].all(), name
    paper = plan.memory(load_study("parameters/paper.yaml")).set_index("scale")
    assert list(paper["gpus"] * paper["nodes"]) == [1, 1, 1, 4]
    assert bool(paper.loc["xl", "checkpointing"]) and paper.loc["xxl", "per_gpu_gib"] < 72
