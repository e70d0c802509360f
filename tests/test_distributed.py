"""Gradient accumulation, activation checkpointing and FSDP2 ranks train exactly like one process.

Tiny XLM-R and XLM-R-XL encoders built from config (fp32, dropout 0). The reference is one process on
the default training path (``python -m xw.distributed`` without torchrun); the rest runs under
``torchrun --nproc-per-node 2`` with gloo on CPU. Every job writes its per-step loss and gradient norm
to a JSON file; the tests compare them step by step, and compare the exported encoders.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import finish_jobs, make_tokenizer
from transformers import AutoModel, XLMRobertaConfig, XLMRobertaModel, XLMRobertaXLConfig, XLMRobertaXLModel

from xw.distributed import DONE, ENCODER, STEPS, JobTask, encoder_layers, write_job
from xw.errors import ParameterError, TrainingError
from xw.featurize import collate, featurize, length_grouped_batches
from xw.models import build_head_model
from xw.params import TrainConfig
from xw.study_file import parse_study
from xw.tasks import TaskSpec
from xw.train import linear_schedule, make_optimizer, split_batch, train

TOL = 1e-6
STEPS_RUN = 8
SEED = 5
CLS = TaskSpec(name="dist-cls", kind="classification", family="classification", role="target", languages=("en",),
               metric="accuracy", loader=lambda *a: None, label_names=("no", "yes"))
TAG = TaskSpec(name="dist-tag", kind="tagging", family="tagging", role="target", languages=("en",),
               metric="accuracy", loader=lambda *a: None, label_names=("O", "N", "V"))
MC = TaskSpec(name="dist-mc", kind="multiple_choice", family="multiple_choice", role="intermediate",
              languages=("en",), metric="accuracy", loader=lambda *a: None)
WORDS = "the a cat dog sees runs big small red blue paris london alice bob house tree likes eats".split()


def _encoder(out_dir: Path, xl: bool) -> Path:
    tokenizer = make_tokenizer(out_dir)
    config_class, model_class = (XLMRobertaXLConfig, XLMRobertaXLModel) if xl else (XLMRobertaConfig, XLMRobertaModel)
    torch.manual_seed(0)
    config = config_class(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                          intermediate_size=64, max_position_embeddings=130, pad_token_id=tokenizer.pad_token_id,
                          bos_token_id=0, eos_token_id=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model_class(config).save_pretrained(out_dir)
    return out_dir


def _examples(kind: str, n: int) -> list[dict]:
    rng = random.Random(1)
    if kind == "classification":
        return [{"text": " ".join(rng.choices(WORDS, k=rng.randint(2, 12))), "text_pair": "the cat",
                 "label": rng.randint(0, 1)} for _ in range(n)]
    if kind == "multiple_choice":
        return [{"context": " ".join(rng.choices(WORDS, k=rng.randint(2, 8))),
                 "choices": [" ".join(rng.choices(WORDS, k=rng.randint(1, 5))) for _ in range(3)],
                 "label": rng.randint(0, 2)} for _ in range(n)]
    out = []
    for _ in range(n):
        tokens = rng.choices(WORDS, k=rng.randint(1, 14))  # very different labelled-token counts per example
        out.append({"tokens": tokens, "tags": [rng.randint(0, 2) for _ in tokens]})
    return out


# name -> (encoder, task, examples, config changes, ranks)
CONFIG = {"learning_rate": 1e-3, "batch_size": 8, "max_steps": STEPS_RUN, "max_grad_norm": 0.5}
JOBS = {
    "ref-xlmr": ("xlmr", CLS, 32, {}, 1),
    "ref-xl": ("xl", CLS, 32, {}, 1),
    "ref-tag": ("xlmr", TAG, 30, {}, 1),
    "one-xlmr-accum2": ("xlmr", CLS, 32, {"grad_accumulation": 2}, 1),
    "one-xlmr-ac": ("xlmr", CLS, 32, {"activation_checkpointing": True}, 1),
    "two-xlmr": ("xlmr", CLS, 32, {}, 2),
    "two-xlmr-accum2": ("xlmr", CLS, 32, {"grad_accumulation": 2}, 2),
    "two-xlmr-ac": ("xlmr", CLS, 32, {"activation_checkpointing": True}, 2),
    "two-xl": ("xl", CLS, 32, {}, 2),
    "two-xl-accum2-ac": ("xl", CLS, 32, {"grad_accumulation": 2, "activation_checkpointing": True}, 2),
    # 30 examples: the last batch of each epoch (6) splits unevenly over 2 ranks x 2 micro-batches
    "two-tag-accum2": ("xlmr", TAG, 30, {"grad_accumulation": 2}, 2),
}
# multi-task recipes (classification + tagging + multiple choice, one shared encoder, which then has the
# multiple-choice head's pooler): name -> (config changes, ranks)
MULTI = {"ref-multi": ({}, 1), "two-multi": ({}, 2), "two-multi-accum2-ac": ({"grad_accumulation": 2,
                                                                             "activation_checkpointing": True}, 2)}
MULTI_STEPS = 12  # enough draws that every task is trained (a task is drawn per step, by its batch count)


def _launch(paths: list[Path], ranks: int) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    if ranks == 1:
        command = [sys.executable, "-m", "xw.distributed"]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(ranks),
                   "-m", "xw.distributed"]
    return subprocess.Popen(command + [str(p) for p in paths], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("dist")
    encoders = {"xlmr": _encoder(root / "xlmr", xl=False), "xl": _encoder(root / "xl", xl=True)}
    tokenizer = make_tokenizer(root / "tok")
    jobs: dict[int, list[Path]] = {1: [], 2: []}
    for name, (encoder, task, n, changes, ranks) in JOBS.items():
        features = featurize(task, _examples(task.kind, n), tokenizer, 32)
        head = "AutoModelForSequenceClassification" if task is CLS else "AutoModelForTokenClassification"
        jobs[ranks].append(write_job(root / f"{name}.json", task.name, str(encoders[encoder]), head,
                                     {"num_labels": len(task.label_names)}, features,
                                     TrainConfig(**CONFIG, **changes), SEED, tokenizer.pad_token_id,
                                     root / name, tokenizer=str(encoders[encoder])))
    multi = {CLS.name: featurize(CLS, _examples("classification", 32), tokenizer, 32),
             TAG.name: featurize(TAG, _examples("tagging", 30), tokenizer, 32),
             MC.name: featurize(MC, _examples("multiple_choice", 16), tokenizer, 32)}
    tag = JobTask(TAG.name, "AutoModelForTokenClassification", {"num_labels": len(TAG.label_names)}, multi[TAG.name])
    mc = JobTask(MC.name, "AutoModelForMultipleChoice", {}, multi[MC.name])
    for name, (changes, ranks) in MULTI.items():
        jobs[ranks].append(write_job(root / f"{name}.json", CLS.name, str(encoders["xlmr"]),
                                     "AutoModelForSequenceClassification", {"num_labels": 2}, multi[CLS.name],
                                     TrainConfig(**{**CONFIG, "max_steps": MULTI_STEPS}, **changes), SEED,
                                     tokenizer.pad_token_id, root / name, tokenizer=str(encoders["xlmr"]),
                                     also=[tag, mc]))
    running = [(_launch(paths, ranks), paths) for ranks, paths in jobs.items()]
    for process, paths in running:
        finish_jobs(process, paths)
    return {"root": root, "encoders": encoders, "tokenizer": tokenizer, "multi_features": multi}


def _steps(world: dict, name: str) -> list[dict]:
    done = json.loads((world["root"] / name / DONE).read_text())
    ranks, steps = (MULTI[name][1], MULTI_STEPS) if name in MULTI else (JOBS[name][4], STEPS_RUN)
    assert done["ranks"] == ranks and done["steps"] == steps
    return json.loads((world["root"] / name / STEPS).read_text())


def _max_diffs(world: dict, name: str, reference: str) -> tuple[float, float]:
    got, want = _steps(world, name), _steps(world, reference)
    steps = MULTI_STEPS if name in MULTI else STEPS_RUN
    assert [s["step"] for s in got] == [s["step"] for s in want] == list(range(1, steps + 1))
    loss = max(abs(a["loss"] - b["loss"]) for a, b in zip(got, want, strict=True))
    norm = max(abs(a["grad_norm"] - b["grad_norm"]) for a, b in zip(got, want, strict=True))
    print(f"{name} vs {reference}: max |loss diff| {loss:.2e}, max |grad norm diff| {norm:.2e}")
    return loss, norm


@pytest.mark.parametrize(("name", "reference"), [
    ("one-xlmr-accum2", "ref-xlmr"), ("one-xlmr-ac", "ref-xlmr"),
    ("two-xlmr", "ref-xlmr"), ("two-xlmr-accum2", "ref-xlmr"), ("two-xlmr-ac", "ref-xlmr"),
    ("two-xl", "ref-xl"), ("two-xl-accum2-ac", "ref-xl"), ("two-tag-accum2", "ref-tag"),
])
def test_ranks_micro_batches_and_checkpointing_train_like_one_process(world, name, reference):
    loss, norm = _max_diffs(world, name, reference)
    assert loss <= TOL and norm <= TOL
    steps = _steps(world, reference)
    assert len({round(s["loss"], 4) for s in steps}) > 1, "the reference must actually train"
    assert any(s["grad_norm"] > CONFIG["max_grad_norm"] for s in steps), "clipping must be exercised"


@pytest.mark.parametrize(("name", "reference"), [("two-xlmr-accum2", "ref-xlmr"), ("two-xl", "ref-xl"),
                                                 ("two-tag-accum2", "ref-tag")])
def test_rank_zero_exports_the_gathered_encoder(world, name, reference):
    # the heads' encoders have no pooler (HF builds them without), so neither has the export
    got = AutoModel.from_pretrained(world["root"] / name / ENCODER, add_pooling_layer=False)
    want = AutoModel.from_pretrained(world["root"] / reference / ENCODER, add_pooling_layer=False)
    start = AutoModel.from_pretrained(world["encoders"][JOBS[name][0]], add_pooling_layer=False)
    assert type(got) is type(want) is type(start)
    assert (world["root"] / name / ENCODER / "tokenizer.json").is_file()
    trained = dict(start.state_dict())
    moved = 0.0
    for key, value in want.state_dict().items():
        assert torch.allclose(got.state_dict()[key], value, atol=1e-5), key
        moved = max(moved, float((value - trained[key]).abs().max()))
    assert moved > 1e-3, "training must have changed the exported weights"


def _drawn_tasks(world: dict) -> list[str]:
    """The task xw.train draws at each step of the multi-task jobs (its sampler, replayed: same seed, same order)."""
    features = world["multi_features"]  # the jobs' tasks, their first first
    rng = random.Random(SEED)

    def stream(name: str):
        while True:
            yield from length_grouped_batches(features[name], CONFIG["batch_size"], rng)

    streams = {name: stream(name) for name in features}
    weights = [-(-len(f) // CONFIG["batch_size"]) for f in features.values()]
    drawn = []
    for _ in range(MULTI_STEPS):
        drawn.append(rng.choices(list(features), weights)[0])
        next(streams[drawn[-1]])
    return drawn


@pytest.mark.parametrize("name", ["two-multi", "two-multi-accum2-ac"])
def test_a_multi_task_recipe_trains_on_ranks_like_one_process(world, name):
    """Three heads (classification, tagging, multiple choice) on one shared encoder, one FSDP2 root (HeadSet):
    per-step loss and grad norm of 2 ranks (and with 2 micro-batches and activation checkpointing) equal one
    process's, and the exported shared encoder (with the multiple-choice head's pooler) is the same."""
    loss, norm = _max_diffs(world, name, "ref-multi")
    assert loss <= TOL and norm <= TOL
    assert set(_drawn_tasks(world)) == {CLS.name, TAG.name, MC.name}, "every head must be trained"
    got = AutoModel.from_pretrained(world["root"] / name / ENCODER).state_dict()
    want = AutoModel.from_pretrained(world["root"] / "ref-multi" / ENCODER).state_dict()
    start = AutoModel.from_pretrained(world["encoders"]["xlmr"], add_pooling_layer=False).state_dict()
    assert any(k.startswith("pooler.") for k in want), "the shared encoder is the multiple-choice head's"
    # the pooler learns from the multiple-choice steps alone, with gradients small enough that Adam turns
    # float rounding into ~1e-5 (one process, 1 vs 2 micro-batches: 2.6e-05 on pooler.dense.weight, 4e-07
    # elsewhere), hence its wider tolerance
    for key in want:
        assert float((got[key] - want[key]).abs().max()) <= (1e-4 if key.startswith("pooler.") else 1e-5), key
    assert max(float((want[k] - start[k]).abs().max()) for k in start) > 1e-3


def test_token_weighted_loss_is_not_the_mean_of_per_chunk_means(world):
    """For tagging the chunks' mean losses average over different token counts: their plain mean differs."""
    tokenizer = world["tokenizer"]
    features = featurize(TAG, _examples("tagging", 30), tokenizer, 32)
    indices = length_grouped_batches(features, CONFIG["batch_size"], random.Random(SEED))[0]  # train's first batch
    torch.manual_seed(SEED)
    model = build_head_model(world["encoders"]["xlmr"], TAG).train()

    def loss(chunk: list[int]) -> float:
        with torch.no_grad():
            return float(model(**collate([features[i] for i in chunk], tokenizer.pad_token_id)).loss)

    whole = loss(indices)
    per_chunk = sum(loss(c) for c in split_batch(indices, 4)) / 4
    print(f"tagging step-1 loss: token-weighted {whole:.6f}, mean of 4 chunk means {per_chunk:.6f}")
    assert abs(whole - _steps(world, "two-tag-accum2")[0]["loss"]) <= TOL
    assert abs(whole - per_chunk) > 1e-3, (whole, per_chunk)


def test_encoder_layers_found_for_every_architecture(world):
    for encoder, layer_class in (("xlmr", "XLMRobertaLayer"), ("xl", "XLMRobertaXLLayer")):
        model = build_head_model(world["encoders"][encoder], CLS)
        assert [type(m).__name__ for m in encoder_layers(model)] == [layer_class] * 2


def test_default_path_is_the_plain_loop_bit_for_bit(world):
    """One micro-batch on one device: every step's loss and the final weights equal the plain loop's exactly."""
    tokenizer = world["tokenizer"]
    features = featurize(TAG, _examples("tagging", 30), tokenizer, 32)
    config = TrainConfig(**CONFIG)
    source = world["encoders"]["xlmr"]
    torch.manual_seed(SEED)
    model = build_head_model(source, TAG)
    losses: list[float] = []
    train({TAG.name: (model, features)}, config, SEED, tokenizer.pad_token_id, torch.device("cpu"), progress=False,
          on_step=lambda log: losses.append(log.loss))

    torch.manual_seed(SEED)
    plain = build_head_model(source, TAG)
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    plain.train()
    params = [p for p in plain.parameters() if p.requires_grad]
    names = [n for n, p in plain.named_parameters() if p.requires_grad]
    optimizer = make_optimizer(params, names, config, torch.device("cpu"))
    scheduler = linear_schedule(optimizer, STEPS_RUN, config.warmup_ratio)
    batches: list[list[int]] = []
    expected = []
    for _ in range(STEPS_RUN):
        if not batches:
            batches = length_grouped_batches(features, config.batch_size, rng)
        loss = plain(**collate([features[i] for i in batches.pop(0)], tokenizer.pad_token_id)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        expected.append(float(loss.detach().float()))
    assert losses == expected
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), plain.state_dict().values(), strict=True))


def test_batch_that_does_not_split_is_refused(tmp_path, world):
    raw = {"study": "s", "models": {"family": "mini", "ladder": [{"name": "s", "layers": 1, "hidden": 16, "heads": 2}]},
           "intermediate_tasks": ["none"], "target_tasks": ["t"],
           "training": {"default": {"batch_size": 8, "grad_accumulation": 3}}}
    with pytest.raises(ParameterError, match=r"training.default.grad_accumulation.*batch_size 8 .*3 micro-batches"):
        parse_study(raw, tmp_path / "s.yaml", tmp_path, {"t": "target"})
    raw["training"]["default"]["grad_accumulation"] = 0
    with pytest.raises(ParameterError, match=r"grad_accumulation.*at least 1"):
        parse_study(raw, tmp_path / "s.yaml", tmp_path, {"t": "target"})
    torch.manual_seed(0)
    model = build_head_model(world["encoders"]["xlmr"], CLS)
    features = featurize(CLS, _examples("classification", 8), world["tokenizer"], 32)
    with pytest.raises(TrainingError, match=r"batch_size 8 .*1 ranks x 3 micro-batches"):
        train({CLS.name: (model, features)}, TrainConfig(batch_size=8, grad_accumulation=3, max_steps=1), 0,
              world["tokenizer"].pad_token_id, torch.device("cpu"), progress=False)
