"""Probe: does zero-shot transfer happen in the mini-world, and do intermediate tasks help?

Pretrains the mini ladder (cached under --out), fine-tunes each target on English only with plain
PyTorch + transformers Auto heads, and prints per-language scores with chance levels. Optionally
runs intermediate -> target chains (e.g. mini-entail -> mini-nli) against the direct baseline.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/miniworld_probe.py --sizes xs l --out outputs/probe
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import transformers  # noqa: E402
from seqeval.metrics import f1_score  # noqa: E402
from transformers import (  # noqa: E402
    AutoModel,
    AutoModelForMultipleChoice,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
)

from xw.pretrain import count_parameters, pretrain_mlm  # noqa: E402
from xw.tasks import DataConfig, get_task  # noqa: E402

# The proposed ladder: equal steps and batch for every size (equal tokens), ~23x parameters.
LADDER: dict[str, dict[str, float]] = {
    "xs": {"layers": 1, "hidden": 16, "heads": 2, "intermediate_size": 64, "learning_rate": 5e-3},
    "s": {"layers": 1, "hidden": 32, "heads": 2, "intermediate_size": 128, "learning_rate": 5e-3},
    "m": {"layers": 2, "hidden": 64, "heads": 2, "intermediate_size": 256, "learning_rate": 5e-3},
    "l": {"layers": 3, "hidden": 96, "heads": 4, "intermediate_size": 384, "learning_rate": 3e-3},
}
PRETRAIN = {"steps": 3000, "batch_size": 32}
FINETUNE = {"epochs": 3, "batch_size": 32, "learning_rate": 1e-3, "freeze_embeddings": True}
EPOCHS = {"mini-nli": 10, "mini-entail": 10, "mini-qa": 5, "mini-squad": 5}  # pair tasks need more passes
TARGETS = ("mini-nli", "mini-pos", "mini-ner", "mini-qa", "mini-retrieval")
CHANCE = {"mini-nli": "33.3 (balanced)", "mini-pos": "22-29 (majority tag)", "mini-ner": "0 (all O)",
          "mini-qa": "10-20 F1 (random 1-3 word span)", "mini-retrieval": "0.3 (1/300)"}  # fmt: skip


# ---- featurisation ----------------------------------------------------------------------------


def features(task: str, ds, tok, max_length: int = 64) -> list[dict]:
    rows = ds.to_dict()
    kind = get_task(task).kind
    out = []
    if kind == "classification":
        pairs = rows.get("text_pair")
        enc = tok(rows["text"], pairs, truncation=True, max_length=max_length)
        for i, ids in enumerate(enc["input_ids"]):
            out.append({"input_ids": ids, "labels": rows["label"][i]})
    elif kind == "tagging":
        enc = tok(rows["tokens"], is_split_into_words=True, truncation=True, max_length=max_length)
        for i, ids in enumerate(enc["input_ids"]):
            prev, labels = None, []
            for w in enc.word_ids(i):
                labels.append(-100 if w is None or w == prev else rows["tags"][i][w])
                prev = w
            out.append({"input_ids": ids, "labels": labels})
    elif kind == "qa":
        enc = tok(rows["question"], rows["context"], truncation="only_second", max_length=max_length,
                  return_offsets_mapping=True)  # fmt: skip
        for i, ids in enumerate(enc["input_ids"]):
            start_char = rows["answers"][i]["answer_start"][0]
            end_char = start_char + len(rows["answers"][i]["text"][0])
            seq, offs = enc.sequence_ids(i), enc["offset_mapping"][i]
            ctx = [j for j, s in enumerate(seq) if s == 1]
            start = next((j for j in ctx if offs[j][0] <= start_char < offs[j][1]), 0)
            end = next((j for j in ctx if offs[j][0] < end_char <= offs[j][1]), 0)
            out.append({"input_ids": ids, "start_positions": start, "end_positions": end, "offsets": offs,
                        "seq": seq, "context": rows["context"][i], "answer": rows["answers"][i]["text"][0]})  # fmt: skip
    elif kind == "multiple_choice":
        for ctx, choices, label in zip(rows["context"], rows["choices"], rows["label"], strict=True):
            enc = tok([ctx] * len(choices), choices, truncation=True, max_length=max_length)
            out.append({"input_ids": enc["input_ids"], "labels": label})
    return out


def collate(batch: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    multi = isinstance(batch[0]["input_ids"][0], list)
    seqs = [s for f in batch for s in (f["input_ids"] if multi else [f["input_ids"]])]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
    out = {"input_ids": ids, "attention_mask": (ids != pad_id).long()}
    if multi:
        n = len(batch[0]["input_ids"])
        out = {k: v.view(len(batch), n, width) for k, v in out.items()}
    first = batch[0]
    if "start_positions" in first:
        out["start_positions"] = torch.tensor([f["start_positions"] for f in batch])
        out["end_positions"] = torch.tensor([f["end_positions"] for f in batch])
    elif isinstance(first["labels"], list):
        labels = torch.full((len(batch), width), -100)
        for i, f in enumerate(batch):
            labels[i, : len(f["labels"])] = torch.tensor(f["labels"])
        out["labels"] = labels
    else:
        out["labels"] = torch.tensor([f["labels"] for f in batch])
    return out


# ---- training and evaluation ------------------------------------------------------------------


def head_for(task: str, path: Path | str):
    spec = get_task(task)
    cls = {"classification": AutoModelForSequenceClassification, "tagging": AutoModelForTokenClassification,
           "qa": AutoModelForQuestionAnswering, "multiple_choice": AutoModelForMultipleChoice}[spec.kind]  # fmt: skip
    kw = {"num_labels": spec.num_labels} if spec.num_labels else {}
    return cls.from_pretrained(path, **kw)


def finetune(model, feats: list[dict], pad_id: int, *, epochs: int, batch_size: int, learning_rate: float,
             freeze_embeddings: bool, seed: int = 0) -> list[float]:  # fmt: skip
    torch.manual_seed(seed)
    if freeze_embeddings:
        model.base_model.embeddings.word_embeddings.weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.01)
    steps = epochs * ((len(feats) + batch_size - 1) // batch_size)
    warm = max(1, steps // 10)
    g = torch.Generator().manual_seed(seed)
    model.train()
    losses, step = [], 0
    for _ in range(epochs):
        perm = torch.randperm(len(feats), generator=g).tolist()
        for b in range(0, len(feats), batch_size):
            lr = learning_rate * min((step + 1) / warm, max(0.0, (steps - step) / (steps - warm)))
            for group in opt.param_groups:
                group["lr"] = lr
            batch = collate([feats[i] for i in perm[b : b + batch_size]], pad_id)
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad()
            losses.append(loss.item())
            step += 1
    model.train(False)
    return losses


def _norm(s: str) -> list[str]:
    return re.sub(r"[.?]", " ", s.lower()).split()


def token_f1(pred: str, gold: str) -> float:
    p, g = _norm(pred), _norm(gold)
    common = sum((collections.Counter(p) & collections.Counter(g)).values())
    if not p or not g or not common:
        return float(p == g)
    prec, rec = common / len(p), common / len(g)
    return 2 * prec * rec / (prec + rec)


@torch.no_grad()
def evaluate(task: str, model, feats: list[dict], pad_id: int, label_names) -> float:
    kind = get_task(task).kind
    correct = total = 0
    gold_seqs, pred_seqs, f1s = [], [], []
    for b in range(0, len(feats), 128):
        chunk = feats[b : b + 128]
        batch = collate(chunk, pad_id)
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask")}
        out = model(**inputs)
        if kind in ("classification", "multiple_choice"):
            pred = out.logits.argmax(-1)
            correct += (pred == batch["labels"]).sum().item()
            total += len(chunk)
        elif kind == "tagging":
            pred = out.logits.argmax(-1)
            for i in range(len(chunk)):
                m = batch["labels"][i] != -100
                g, p = batch["labels"][i][m].tolist(), pred[i][m].tolist()
                correct += sum(int(a == c) for a, c in zip(g, p, strict=True))
                total += len(g)
                gold_seqs.append([label_names[x] for x in g])
                pred_seqs.append([label_names[x] for x in p])
        else:
            for i, f in enumerate(chunk):
                ctx = [j for j, s in enumerate(f["seq"]) if s == 1]
                s_log, e_log = out.start_logits[i], out.end_logits[i]
                best, span = -1e9, (ctx[0], ctx[0])
                for s in ctx:
                    for e in ctx:
                        if s <= e < s + 12 and s_log[s] + e_log[e] > best:
                            best, span = (s_log[s] + e_log[e]).item(), (s, e)
                text = f["context"][f["offsets"][span[0]][0] : f["offsets"][span[1]][1]]
                f1s.append(token_f1(text, f["answer"]))
    if kind == "qa":
        return 100 * sum(f1s) / len(f1s)
    if task == "mini-ner" or (label_names and label_names[0] == "O"):
        return 100 * f1_score(gold_seqs, pred_seqs)
    return 100 * correct / max(1, total)


@torch.no_grad()
def retrieval_accuracy(model_dir: Path, tok, lang: str, dc: DataConfig, layer_fraction: float = 0.5) -> float:
    """Tatoeba-style: mean-pool a middle layer (fraction of depth), cosine nearest neighbour."""
    model = AutoModel.from_pretrained(model_dir)
    model.train(False)
    rs = get_task("mini-retrieval").loader("test", lang, dc)
    layer = round(layer_fraction * model.config.num_hidden_layers)

    def embed(texts: list[str]) -> torch.Tensor:
        enc = tok(texts, padding=True, return_tensors="pt")
        hs = model(**enc, output_hidden_states=True).hidden_states[layer]
        m = enc["attention_mask"].unsqueeze(-1).float()
        return F.normalize((hs * m).sum(1) / m.sum(1), dim=-1)

    src, tgt = embed(rs.source_texts), embed(rs.target_texts)
    pred = (src @ tgt.T).argmax(-1).tolist()
    index = {t: i for i, t in enumerate(rs.target_ids)}
    gold = dict(rs.gold)
    return 100 * sum(int(pred[i] == index[gold[s]]) for i, s in enumerate(rs.source_ids)) / len(rs.source_ids)


def run_target(task: str, model_dir: Path, tok, dc: DataConfig, langs, init: Path | None = None) -> dict:
    spec = get_task(task)
    t0 = time.time()
    torch.manual_seed(0)  # the new head's initialisation
    model = head_for(task, init or model_dir)
    feats = features(task, spec.loader("train", "en", dc), tok)
    losses = finetune(
        model, feats, tok.pad_token_id, **{**FINETUNE, "epochs": EPOCHS.get(task, FINETUNE["epochs"])}
    )
    scores = {}
    for lang in langs:
        if lang in spec.languages:
            ev = features(task, spec.loader(spec.eval_split_for(lang), lang, dc), tok)
            scores[lang] = evaluate(task, model, ev, tok.pad_token_id, spec.label_names)
    return {"scores": scores, "seconds": round(time.time() - t0, 1), "final_loss": sum(losses[-20:]) / 20}


def run_intermediate(task: str, model_dir: Path, tok, dc: DataConfig, out: Path) -> Path:
    """Fine-tune on an English intermediate task and save the encoder for the target stage."""
    path = out / f"{model_dir.name}+{task}"
    if (path / "config.json").exists():
        return path
    spec = get_task(task)
    torch.manual_seed(0)
    model = head_for(task, model_dir)
    feats = features(task, spec.loader("train", "en", dc), tok)
    finetune(model, feats, tok.pad_token_id, **{**FINETUNE, "epochs": EPOCHS.get(task, FINETUNE["epochs"])})
    dev = features(task, spec.loader("dev", "en", dc), tok)
    print(
        f"  intermediate {task}: English dev {evaluate(task, model, dev, tok.pad_token_id, spec.label_names):.1f}"
    )
    model.base_model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["l"], choices=list(LADDER))
    ap.add_argument("--tasks", nargs="+", default=list(TARGETS))
    ap.add_argument(
        "--chains", nargs="*", default=[], help="intermediate:target pairs, e.g. mini-entail:mini-nli"
    )
    ap.add_argument("--steps", type=int, default=PRETRAIN["steps"])
    ap.add_argument("--batch-size", type=int, default=PRETRAIN["batch_size"])
    ap.add_argument("--chain-sizes", nargs="*", default=None, help="sizes that run the chains (default: all)")
    ap.add_argument("--code-switch", type=float, default=0.3)
    ap.add_argument("--world-seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("outputs/miniworld_probe"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    dc = DataConfig(world_seed=args.world_seed)
    results = {}
    for size in args.sizes:
        arch = LADDER[size]
        cs = f"-cs{args.code_switch}" if args.code_switch != 0.3 else ""
        model_dir = args.out / f"w{args.world_seed}-{size}-{args.steps}x{args.batch_size}{cs}"
        t0 = time.time()
        pretrain_mlm(world_seed=args.world_seed, **arch, steps=args.steps, batch_size=args.batch_size, seed=0, out_dir=model_dir, progress=False,
                     code_switch=args.code_switch)  # fmt: skip
        marker = json.loads((model_dir / "xw-complete.json").read_text())
        print(f"== {size} {arch}: {marker['parameters']:,} params ({marker['non_embedding_parameters']:,} "
              f"non-embedding), pretrain {marker['wall_seconds']}s (this call {time.time() - t0:.0f}s), "
              f"final MLM loss {marker['final_loss']:.3f}")  # fmt: skip
        tok = AutoTokenizer.from_pretrained(model_dir)
        langs = get_task("mini-nli").languages
        res = {}
        for task in args.tasks:
            if task == "mini-retrieval":
                res[task] = {
                    "scores": {lg: retrieval_accuracy(model_dir, tok, lg, dc) for lg in langs if lg != "en"}
                }
            else:
                res[task] = run_target(task, model_dir, tok, dc, langs)
            print(_row(task, res[task]), f"| chance {CHANCE.get(task, '?')}", flush=True)
        for chain in args.chains if args.chain_sizes is None or size in args.chain_sizes else []:
            inter, target = chain.split(":")
            init = run_intermediate(inter, model_dir, tok, dc, args.out)
            res[chain] = run_target(target, model_dir, tok, dc, langs, init=init)
            print(_row(chain, res[chain]), flush=True)
        results[size] = {"params": count_parameters_from(model_dir), "results": res}
    (args.out / "probe_results.json").write_text(json.dumps(results, indent=1))


def count_parameters_from(model_dir: Path) -> int:
    from transformers import AutoConfig

    return count_parameters(AutoConfig.from_pretrained(model_dir))


def _row(name: str, r: dict) -> str:
    s = r["scores"]
    cells = " ".join(f"{lg}={v:5.1f}" for lg, v in s.items())
    non_en = [v for lg, v in s.items() if lg != "en"]
    extra = f" ({r['seconds']}s)" if "seconds" in r else ""
    return f"{name:28s} {cells}  | non-en mean {sum(non_en) / max(1, len(non_en)):5.1f}{extra}"


if __name__ == "__main__":
    main(sys.argv[1:])
