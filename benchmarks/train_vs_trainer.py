"""xw's training and evaluation kernels against the obvious HuggingFace baselines, on real XTREME data.

One run trains the same small XLM-R (built from config, random init; WordPiece tokenizer trained on the
fly on the local files, nothing downloaded) on the same English training examples for the same number
of steps with

  (a) ``xw.train.train``          fused AdamW, length-grouped batches, dynamic padding, loss synced every 25 steps
  (b) ``transformers.Trainer``    plain TrainingArguments (same lr, batch size, steps, warmup, weight decay),
                                  DataCollatorWithPadding / DataCollatorForTokenClassification, random batches

and evaluates the trained model with

  (c) ``xw.evaluate.evaluate_examples``   length-sorted batches, dynamic padding, inference_mode
  (d) a plain loop                        pad every example to max_length, batches in the order given

Each (a)/(b) pair starts from the same initial weights and seed; the order alternates across repeats and
each method is warmed up once before timing. Throughput counts the examples and the non-padding tokens
the model actually saw (a forward pre-hook, identical for every method); "pad" is the share of padding
in what was computed. Accuracy/F1 and loss on the English evaluation split of every trained model tell
whether the two trainers reach the same result (mean +- sd over repeats; seeds differ per repeat).

Variants (``--variants``) are extra rows of xw's kernel with one change each, compared with plain xw
in the same run: ``bf16`` (autocast), ``eager`` (eager attention instead of SDPA, transformers 5's default for
XLM-R), ``compile`` (``torch.compile(model, dynamic=True)``; its compile time is paid in the warm-up), ``sync`` (a host sync every step: ``float(loss)``, what xw avoids),
``trainer-grouped`` (Trainer with train_sampling_strategy="group_by_length").

On a GPU the table adds model FLOPs utilisation: 6 x parameters x tokens/s over the card's bf16
matmul rate measured here with a large matmul.

On CPU a second ratio uses process CPU time instead of wall time, which moves less when other jobs
share the machine. One intra-op thread by default (``--threads``): on the shared 2-core box two threads
ran about 3x slower than one.

    .venv/bin/python benchmarks/train_vs_trainer.py                      # defaults: XNLI, ~4 min on 2 cores
    .venv/bin/python benchmarks/train_vs_trainer.py --task panx --variants eager,sync,trainer-grouped
    .venv/bin/python benchmarks/train_vs_trainer.py --steps 12 --max-eval 200 --variants bf16,compile
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import copy  # noqa: E402
import itertools  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import dataclass, field, replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from xw import metrics as xw_metrics  # noqa: E402
from xw.evaluate import evaluate_examples  # noqa: E402
from xw.featurize import collate, featurize, sequential_batches  # noqa: E402
from xw.models import describe_device, pick_device  # noqa: E402
from xw.params import TrainConfig  # noqa: E402
from xw.tasks import DataConfig, TaskSpec, get_task  # noqa: E402
from xw.train import autocast_context, train  # noqa: E402

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "xtreme-real"
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # XLM-R's ids 0..3 and its mask token
TASKS = ("xnli", "pawsx", "panx", "udpos")
VARIANTS = ("bf16", "eager", "compile", "sync", "trainer-grouped")


# ----------------------------------------------------------------------------- data, tokenizer, model


def load_split(task: TaskSpec, split: str, root: Path, limit: int, seed: int = 0) -> list[dict]:
    data = task.loader(split, "en", DataConfig(source="local", root=root))
    examples = data.to_list() if hasattr(data, "to_list") else list(data)
    if limit and len(examples) > limit:
        rng = random.Random(seed)
        examples = [examples[i] for i in sorted(rng.sample(range(len(examples)), limit))]
    return examples


def sample_lines(root: Path, task: str, per_file: int = 2000, seed: int = 0) -> list[str]:
    """Lines of every file of the task's folders, all languages (a multilingual vocabulary, as XLM-R's)."""
    rng = random.Random(seed)
    folders = [root / "download" / task] + ([root / "download" / "panx_dataset"] if task == "panx" else [])
    lines: list[str] = []
    for path in sorted(p for folder in folders for p in folder.rglob("*") if p.is_file()):
        with path.open(encoding="utf-8", errors="ignore") as handle:
            head = [line[:500] for line in itertools.islice(handle, 20000) if line.strip()]
        lines += rng.sample(head, min(per_file, len(head)))
    return lines


def train_tokenizer(lines: list[str], vocab_size: int, max_length: int):
    """WordPiece with XLM-R's special tokens, pair template and offsets (as tests/test_real_data.py)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    from xw.miniworld.tokenizer import xlmr_fast_tokenizer

    tok = Tokenizer(models.WordPiece(unk_token="<unk>"))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(
        lines, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, limit_alphabet=1500)
    )
    return xlmr_fast_tokenizer(tok, model_max_length=max_length)


def build_model(task: TaskSpec, vocab_size: int, args: argparse.Namespace, seed: int):
    from transformers import (
        XLMRobertaConfig,
        XLMRobertaForSequenceClassification,
        XLMRobertaForTokenClassification,
    )

    torch.manual_seed(seed)
    config = XLMRobertaConfig(
        vocab_size=vocab_size,
        hidden_size=args.hidden,
        num_hidden_layers=args.layers,
        num_attention_heads=max(1, args.hidden // 64),
        intermediate_size=4 * args.hidden,
        max_position_embeddings=args.max_length + 2,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        num_labels=task.num_labels,
        id2label=dict(enumerate(task.label_names)),
        label2id={n: i for i, n in enumerate(task.label_names)},
    )
    head = (
        XLMRobertaForSequenceClassification
        if task.kind == "classification"
        else XLMRobertaForTokenClassification
    )
    return head(config)


# ----------------------------------------------------------------------------- counting what the model saw


@dataclass
class Seen:
    """Examples, non-padding and padded tokens entering the model's forward (training only)."""

    examples: int = 0
    padded: int = 0
    real: torch.Tensor | None = None
    handle: object = field(default=None, repr=False)

    def attach(self, model: torch.nn.Module) -> Seen:
        def hook(_module, args, kwargs):
            ids = kwargs.get("input_ids", args[0] if args else None)
            mask = kwargs.get("attention_mask")
            if ids is None or not torch.is_grad_enabled():
                return
            self.examples += ids.shape[0]
            self.padded += ids.numel()
            real = mask.sum() if mask is not None else torch.tensor(ids.numel(), device=ids.device)
            self.real = real if self.real is None else self.real + real  # stays on the device: no sync

        self.handle = model.register_forward_pre_hook(hook, with_kwargs=True)
        return self

    def detach(self) -> None:
        self.handle.remove()

    @property
    def tokens(self) -> int:
        return int(self.real) if self.real is not None else 0


@dataclass
class Run:
    method: str
    repeat: int
    seconds: float
    examples: int
    tokens: int
    padded: int
    metric: float = float("nan")
    loss: float = float("nan")
    cpu_seconds: float = float("nan")  # process CPU time: less sensitive than wall time to other jobs on the box

    @property
    def examples_per_s(self) -> float:
        return self.examples / self.seconds

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class Clock:
    """Wall and process-CPU seconds of a block, the device synchronised at both ends."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.wall = self.cpu = float("nan")

    def __enter__(self) -> Clock:
        synchronize(self.device)
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        synchronize(self.device)
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


# ----------------------------------------------------------------------------- (a) xw, (b) Trainer


def train_xw(
    model,
    features,
    config: TrainConfig,
    seed: int,
    pad_id: int,
    device: torch.device,
    sync_every_step: bool = False,
    compile_model: bool = False,
) -> tuple[Clock, Seen]:
    module = torch.compile(model, dynamic=True) if compile_model else model  # trains ``model``'s parameters
    seen = Seen().attach(module)
    if sync_every_step:  # what a loop with loss.item() / float(loss) per step does
        sync = module.register_forward_hook(
            lambda _m, _a, out: None if out.loss is None else float(out.loss) and None
        )
    with Clock(device) as clock:
        train({"task": (module, features)}, config, seed, pad_id, device, progress=False)
    seen.detach()
    if sync_every_step:
        sync.remove()
    return clock, seen


def train_hf(
    model,
    features,
    task: TaskSpec,
    tokenizer,
    config: TrainConfig,
    seed: int,
    device: torch.device,
    grouped: bool = False,
) -> tuple[Clock, Seen]:
    from transformers import (
        DataCollatorForTokenClassification,
        DataCollatorWithPadding,
        PrinterCallback,
        Trainer,
        TrainingArguments,
    )

    data = [{"input_ids": f["input_ids"], "labels": f["labels"]} for f in features]
    collator = (
        DataCollatorWithPadding(tokenizer)
        if task.kind == "classification"
        else DataCollatorForTokenClassification(tokenizer)
    )
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out,
            max_steps=config.max_steps,
            per_device_train_batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            warmup_steps=config.warmup_ratio,
            weight_decay=config.weight_decay,
            max_grad_norm=config.max_grad_norm,
            bf16=config.bf16,
            use_cpu=device.type == "cpu",  # Trainer refuses bf16 on CPU without it; no effect otherwise
            seed=seed,
            save_strategy="no",
            disable_tqdm=True,  # no checkpoint writes or progress bar (xw does neither)
            **({"train_sampling_strategy": "group_by_length"} if grouped else {}),
        )
        trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=collator)
        trainer.remove_callback(PrinterCallback)  # the end-of-training metrics line only
        seen = Seen().attach(model)
        with Clock(device) as clock:
            trainer.train()
        seen.detach()
    model.eval()
    return clock, seen


# ----------------------------------------------------------------------------- (c) xw, (d) plain evaluation


def evaluate_xw(
    model, tokenizer, task: TaskSpec, examples: list[dict], config: TrainConfig, device: torch.device
) -> tuple[Clock, float]:
    with Clock(device) as clock:
        result = evaluate_examples(model, tokenizer, task, examples, "en", config, device)
    return clock, result[task.primary_metric]


@torch.no_grad()
def evaluate_plain(
    model, tokenizer, task: TaskSpec, examples: list[dict], config: TrainConfig, device: torch.device
) -> tuple[Clock, float]:
    """The loop one writes first: tokenize with padding='max_length', batches in the order given."""
    with Clock(device) as clock:
        result = _plain_loop(model, tokenizer, task, examples, config, device)
    return clock, result[task.primary_metric]


def _plain_loop(model, tokenizer, task: TaskSpec, examples: list[dict], config: TrainConfig,
                device: torch.device) -> dict[str, float]:
    model.eval()
    if task.kind == "classification":
        enc = tokenizer(
            [ex["text"] for ex in examples],
            [ex["text_pair"] for ex in examples],
            truncation=True,
            max_length=config.max_length,
            padding="max_length",
            return_tensors="pt",
        )
    else:
        enc = tokenizer(
            [list(ex["tokens"]) for ex in examples],
            is_split_into_words=True,
            truncation=True,
            max_length=config.max_length,
            padding="max_length",
            return_tensors="pt",
        )
    logits = []
    for i in range(0, len(examples), config.eval_batch_size):
        batch = {
            k: enc[k][i : i + config.eval_batch_size].to(device) for k in ("input_ids", "attention_mask")
        }
        with autocast_context(device, config.bf16):
            logits.append(model(**batch).logits.float().cpu().numpy())
    logits = np.concatenate(logits)
    if task.kind == "classification":
        result = xw_metrics.METRICS[task.metric](
            [int(np.argmax(row)) for row in logits], [int(ex["label"]) for ex in examples]
        )
    else:
        names, fallback = task.label_names, ("O" if "O" in task.label_names else task.label_names[0])
        predictions, references = [], []
        for i, ex in enumerate(examples):
            words, previous = [fallback] * len(ex["tokens"]), None
            for position, word in enumerate(enc.word_ids(i)):
                if word is not None and word != previous:
                    words[word] = names[int(np.argmax(logits[i, position]))]
                previous = word
            predictions.append(words)
            references.append([names[t] for t in ex["tags"]])
        result = xw_metrics.METRICS[task.metric](predictions, references)
    return result


@torch.inference_mode()
def mean_loss(model, features, pad_id: int, batch_size: int, device: torch.device) -> float:
    """Cross-entropy of a trained model on labelled features (untimed; a finer check than accuracy)."""
    model.eval()
    total = weight = 0.0
    for indices in sequential_batches(features, batch_size):
        batch = {k: v.to(device) for k, v in collate([features[i] for i in indices], pad_id).items()}
        n = int((batch["labels"] != -100).sum())
        total += float(model(**batch).loss) * n
        weight += n
    return total / max(weight, 1.0)


# ----------------------------------------------------------------------------- GPU peak


def bf16_matmul_tflops(device: torch.device, n: int = 8192, iters: int = 20) -> float:
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        a @ b
    torch.cuda.synchronize()
    return 2 * n**3 * iters / (time.perf_counter() - start) / 1e12


# ----------------------------------------------------------------------------- driver


def fmt_spread(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    values = [v * scale for v in values if not math.isnan(v)]
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} +- {sd:.{digits}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="xnli,panx",
                    help=f"comma-separated, from {', '.join(TASKS)}; each gets its own tokenizer, model and tables")
    ap.add_argument("--steps", type=int, default=30, help="training steps per run")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--eval-batch-size", type=int, default=64)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=256, help="heads = hidden/64, FFN = 4 x hidden")
    ap.add_argument(
        "--vocab", type=int, default=8000, help="WordPiece vocabulary trained on the task's files"
    )
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup-ratio", type=float, default=0.1)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast for every method (baseline rows too)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (CPU); on the shared 2-core box 2 threads ran ~3x slower than 1")
    ap.add_argument("--repeats", type=int, default=2, help="timed (a)/(b) pairs; order alternates")
    ap.add_argument("--max-train", type=int, default=0, help="cap on training examples (0 = all)")
    ap.add_argument("--max-eval", type=int, default=400, help="cap on evaluation examples (0 = all)")
    ap.add_argument(
        "--variants",
        default="",
        help=f"comma-separated extra rows, from {', '.join(VARIANTS)}; '' for none",
    )
    ap.add_argument("--data-root", type=Path, default=REAL)
    args = ap.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    if unknown := set(variants) - set(VARIANTS):
        ap.error(f"unknown variants {sorted(unknown)}; choose from {', '.join(VARIANTS)}")
    if args.bf16 and "bf16" in variants:
        variants.remove("bf16")
    tasks = [t for t in args.task.split(",") if t]
    if not tasks or set(tasks) - set(TASKS):
        ap.error(f"--task: choose from {', '.join(TASKS)}")

    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    torch.set_num_threads(args.threads)
    device = pick_device()
    t_all = time.perf_counter()
    print(f"device: {describe_device(device)}; torch {torch.__version__}")
    peak = bf16_matmul_tflops(device) if device.type == "cuda" else None
    for name in tasks:
        bench_task(name, args, variants, device, peak)
    if peak is not None:
        print(f"MFU = 6 x parameters x non-padding tokens/s / {peak:.0f} TFLOP/s (bf16 matmul measured here)")
    print(f"[total {time.perf_counter() - t_all:.0f} s]")


def bench_task(task_name: str, args: argparse.Namespace, variants: list[str], device: torch.device,
               peak: float | None) -> None:
    """Warm up, then time every method ``args.repeats`` times on one task and print its two tables."""
    t_task = time.perf_counter()
    task = get_task(task_name)
    train_examples = load_split(task, task.train_split or "train", args.data_root, args.max_train)
    eval_examples = load_split(task, task.eval_split_for("en"), args.data_root, args.max_eval)
    tokenizer = train_tokenizer(sample_lines(args.data_root, task_name), args.vocab, args.max_length)
    pad_id = tokenizer.pad_token_id
    config = TrainConfig(
        learning_rate=args.lr,
        batch_size=args.batch_size,
        max_steps=args.steps,
        max_length=args.max_length,
        warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay,
        bf16=args.bf16,
        eval_batch_size=args.eval_batch_size,
    )
    features = featurize(task, train_examples, tokenizer, args.max_length)
    eval_features = featurize(task, eval_examples, tokenizer, args.max_length)
    lengths = [len(f["input_ids"]) for f in features]
    params = sum(p.numel() for p in build_model(task, len(tokenizer), args, 0).parameters())
    print(
        f"\n#### task {task_name}: {len(features)} English training examples (tokens/example mean {np.mean(lengths):.1f}, "
        f"median {np.median(lengths):.0f}, max {max(lengths)} at max_length {args.max_length}), "
        f"{len(eval_examples)} evaluation examples ({task.eval_split_for('en')})"
    )
    print(
        f"model: XLM-R {args.layers} layers x {args.hidden}, vocab {len(tokenizer)}, {params / 1e6:.2f}M parameters; "
        f"{args.steps} steps x batch {args.batch_size}, lr {args.lr}, bf16 {args.bf16}, threads {args.threads}, "
        f"attention {build_model(task, 8, args, 0).config._attn_implementation}"
    )

    def run_method(method: str, model, cfg: TrainConfig, seed: int) -> tuple[Clock, Seen]:
        if method == "Trainer":
            return train_hf(model, features, task, tokenizer, cfg, seed, device)
        if method == "Trainer grouped":
            return train_hf(model, features, task, tokenizer, cfg, seed, device, grouped=True)
        if method == "xw bf16":
            cfg = replace(cfg, bf16=True)
        if method == "xw eager-attn":
            model.set_attn_implementation("eager")
        return train_xw(
            model,
            features,
            cfg,
            seed,
            pad_id,
            device,
            sync_every_step=method == "xw sync/step",
            compile_model=method == "xw compile",
        )

    names = {
        "bf16": "xw bf16",
        "eager": "xw eager-attn",
        "compile": "xw compile",
        "sync": "xw sync/step",
        "trainer-grouped": "Trainer grouped",
    }
    methods = ["xw", "Trainer"] + [names[v] for v in variants]

    # warm up every method once (a few steps on a throwaway copy) and both evaluation loops
    warm = replace(config, max_steps=3)
    for method in methods:
        t0 = time.perf_counter()
        run_method(method, build_model(task, len(tokenizer), args, 0), warm, 0)
        if method == "xw compile":
            print(f"[compile warm-up: {time.perf_counter() - t0:.0f} s]")
    probe = build_model(task, len(tokenizer), args, 0).to(device)
    evaluate_xw(probe, tokenizer, task, eval_examples[:64], config, device)
    evaluate_plain(probe, tokenizer, task, eval_examples[:64], config, device)
    print(f"[setup + warm-up {time.perf_counter() - t_task:.0f} s]")

    train_runs: list[Run] = []
    eval_runs: list[Run] = []
    eval_tokens = sum(sum(1 for t in f["input_ids"] if t != pad_id) for f in eval_features)
    eval_padded = len(eval_examples) * args.max_length
    eval_dynamic = sum(
        len(b) * max(len(eval_features[i]["input_ids"]) for i in b)  # what xw's batches compute
        for b in sequential_batches(eval_features, args.eval_batch_size)
    )
    for repeat in range(args.repeats):
        seed = repeat
        initial = build_model(task, len(tokenizer), args, 1000 + repeat)
        order = methods[repeat % len(methods) :] + methods[: repeat % len(methods)]
        if repeat % 2:
            order = order[::-1]
        for method in order:
            model = copy.deepcopy(initial)
            clock, seen = run_method(method, model, config, seed)
            run = Run(method, repeat, clock.wall, seen.examples, seen.tokens, seen.padded, cpu_seconds=clock.cpu)
            bf16 = config.bf16 or method == "xw bf16"
            eval_config = replace(config, bf16=bf16)
            run.loss = mean_loss(model, eval_features, pad_id, args.eval_batch_size, device)
            if method == "xw":  # time (c) and (d) on this model, alternating which goes first
                loops = [("xw evaluate", evaluate_xw), ("plain loop", evaluate_plain)]
                for name, fn in loops if repeat % 2 == 0 else loops[::-1]:
                    clock, value = fn(model, tokenizer, task, eval_examples, eval_config, device)
                    padded = eval_dynamic if name == "xw evaluate" else eval_padded
                    eval_runs.append(Run(name, repeat, clock.wall, len(eval_examples), eval_tokens, padded,
                                         value, cpu_seconds=clock.cpu))
                run.metric = eval_runs[-1].metric
            else:
                run.metric = evaluate_xw(model, tokenizer, task, eval_examples, eval_config, device)[1]
            train_runs.append(run)
            print(
                f"  repeat {repeat} {method:16s} {run.seconds:6.1f} s  {run.examples_per_s:7.1f} ex/s  "
                f"{task.primary_metric} {run.metric:.2f}  eval loss {run.loss:.4f}",
                flush=True,
            )

    print()
    print(table(f"{task_name}: training", train_runs, "xw", "Trainer", params, peak, task.primary_metric))
    print()
    print(table(f"{task_name}: evaluation", eval_runs, "xw evaluate", "plain loop", params, None, task.primary_metric))
    print(
        "tok/s counts non-padding tokens, 'all tok/s' padded ones too (what was computed); ratios are of ex/s,\n"
        "paired by repeat: median [min-max]; '(cpu s)' uses process CPU time instead of wall time (CPU only;\n"
        "less sensitive to other jobs on a shared machine)"
    )
    print(f"[{task_name}: {time.perf_counter() - t_task:.0f} s]")


def table(
    title: str, runs: list[Run], base: str, reference: str, params: int, peak: float | None, metric: str
) -> str:
    """One row per method: medians over repeats; ratios of examples/s paired by repeat (median [min-max])."""
    methods = list(dict.fromkeys(r.method for r in runs))
    by = {m: {r.repeat: r for r in runs if r.method == m} for m in methods}

    def ratio(m: str, other: str, cpu: bool = False) -> str:
        def rate(r: Run) -> float:
            return r.examples / (r.cpu_seconds if cpu else r.seconds)

        pairs = [rate(by[m][k]) / rate(by[other][k]) for k in by[m] if k in by.get(other, {})]
        if m == other or not pairs:
            return "-"
        spread = f" [{min(pairs):.2f}-{max(pairs):.2f}]" if len(pairs) > 1 else ""
        return f"{statistics.median(pairs):.2f}x{spread}"

    header = (
        f"{'':17s}{'runs':>5s}{'s/run':>7s}{'ex/s':>8s}{'tok/s':>8s}{'all tok/s':>10s}{'pad%':>5s}"
        f"{'/ ' + reference:>20s}{'/ ' + base:>20s}"
        + (f"{'MFU%':>7s}" if peak else f"{'/ ' + reference + ' (cpu s)':>26s}")
        + f"{metric + ' mean+-sd':>20s}{'eval loss':>18s}"
    )
    lines = [f"== {title} ==", header]
    for m in methods:
        rs = list(by[m].values())
        tok_s = statistics.median(r.tokens_per_s for r in rs)
        row = (
            f"{m:17s}{len(rs):5d}{statistics.median(r.seconds for r in rs):7.1f}"
            f"{statistics.median(r.examples_per_s for r in rs):8.1f}{tok_s:8.0f}"
            f"{statistics.median(r.padded / r.seconds for r in rs):10.0f}"
            f"{100 * (1 - sum(r.tokens for r in rs) / max(1, sum(r.padded for r in rs))):5.0f}"
            f"{ratio(m, reference):>20s}{ratio(m, base):>20s}"
        )
        if peak:
            row += f"{100 * 6 * params * tok_s / (peak * 1e12):7.2f}"
        else:
            row += f"{ratio(m, reference, cpu=True):>26s}"
        row += f"{fmt_spread([r.metric for r in rs], digits=2):>20s}{fmt_spread([r.loss for r in rs], digits=4):>18s}"
        lines.append(row)
    return "\n".join(lines)


if __name__ == "__main__":
    main()
