"""Local files of the English intermediate tasks (Phang et al. 2020), in their official release formats.

Why: the intermediate tasks come in many formats (SQuAD JSON, GLUE TSV, ANLI/SNLI JSONL, CSV,
CCGbank AUTO); each ``load_<task>(split, language, root, options)`` here reads one of them from
``<root>/intermediate/<task>/`` into the canonical rows, and is referenced by the task's
definition in :mod:`xw.xtreme.tasks`. Where the official train file is absent, the labelled dev
file trains (logged once) and dev is not offered, so nothing is both trained and evaluated on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xw.errors import XWError
from xw.tasks.labels import NLI_LABELS
from xw.xtreme.canonical import QQP_LABELS, SST2_LABELS, cosmosqa_row, label_index, tag_indices
from xw.xtreme.files import (
    first_file,
    intermediate_path,
    missing,
    qa_rows,
    require,
    squad_paths,
    unknown_split,
    warn_once,
)
from xw.xtreme.readers import (
    Row,
    read_ccg_auto,
    read_csv_dicts,
    read_hellaswag_txt,
    read_jsonl,
    read_tsv_rows,
)

# ----------------------------------------------------------------------------- intermediate tasks


def _train_or_dev(task: str, split: str, train: Sequence[Path], dev: Sequence[Path]) -> Path:
    """Official train if present; else (documented) the labelled dev/val file stands in as training data.

    The dev split is then not offered, since it is the training data.
    """
    if split == "train":
        found = first_file(train)
        if found is None:
            found = first_file(dev)
            if found is not None:
                warn_once("task %s: no official train file (%s); training on the labelled dev/val file %s",
                           task, ", ".join(map(str, train)), found)
        if found is None:
            raise missing(task, split, "en", list(train) + list(dev))
        return found
    if split == "dev":
        if first_file(train) is None and first_file(dev) is not None:
            raise missing(task, split, "en", train,
                          why="the dev/val file is used as training data when no train file exists")
        return require(task, split, "en", dev)
    raise unknown_split(task, split, ("train", "dev"))


def load_squad(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    if split not in ("train", "dev"):
        raise unknown_split("squad", split, ("train", "dev"))
    name = "train-v1.1.json" if split == "train" else "dev-v1.1.json"
    path = require("squad", split, language, squad_paths(root, name))
    return qa_rows("squad", split, language, path)


def load_squad_v2(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    path = _train_or_dev("squad_v2", split, squad_paths(root, "train-v2.0.json"), squad_paths(root, "dev-v2.0.json"))
    return qa_rows("squad_v2", split, language, path, unanswerable_ok=True)


def _glue_tsv(task: str, path: Path, a: str, b: str | None, label: str, names: Sequence[str]) -> list[Row]:
    """GLUE TSV with a header: columns looked up by name, no quoting (GLUE text has bare quotes)."""
    rows = read_tsv_rows(path)
    header = list(rows[0]) if rows else []
    missing_cols = [c for c in (a, b, label) if c and c not in header]
    if missing_cols:
        raise XWError(f"task {task!r}: {path} lacks column(s) {missing_cols} (header: {header}); "
                      "GLUE test files are unlabelled")
    ia, il = header.index(a), header.index(label)
    ib = header.index(b) if b else None
    out = []
    for n, row in enumerate(rows[1:], start=2):
        if len(row) <= max(ia, il, ib or 0) or row[il].strip() in ("", "-"):
            continue  # SNLI/MNLI rows without a gold label
        item: Row = {"text": row[ia].strip()}
        if ib is not None:
            item["text_pair"] = row[ib].strip()
        item["label"] = label_index(row[il], names, f"{path}:{n}")
        out.append(item)
    return out


def load_mnli(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    files = {"train": "train.tsv", "dev": "dev_matched.tsv", "dev_mismatched": "dev_mismatched.tsv"}
    if split not in files:
        raise unknown_split("mnli", split, files)
    path = require("mnli", split, language, [intermediate_path(root, d, files[split]) for d in ("mnli", "MNLI")])
    return _glue_tsv("mnli", path, "sentence1", "sentence2", "gold_label", NLI_LABELS)


def load_qqp(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    if split not in ("train", "dev"):
        raise unknown_split("qqp", split, ("train", "dev"))
    path = require("qqp", split, language, [intermediate_path(root, d, f"{split}.tsv") for d in ("qqp", "QQP")])
    return _glue_tsv("qqp", path, "question1", "question2", "is_duplicate", QQP_LABELS)


def load_sst2(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    """SST-2 ``sentence<TAB>label``. The curated tree's test.tsv is GLUE dev (labelled), its train/dev a re-split."""
    if split not in ("train", "dev", "test"):
        raise unknown_split("sst2", split, ("train", "dev", "test"))
    path = require("sst2", split, language, [intermediate_path(root, d, f"{split}.tsv") for d in ("sst2", "SST-2")])
    return _glue_tsv("sst2", path, "sentence", None, "label", SST2_LABELS)


def _nli_jsonl(path: Path, premise: str, hypothesis: str, label: str) -> list[Row]:
    out = []
    for n, row in enumerate(read_jsonl(path), start=1):
        if str(row.get(label, "")).strip() in ("", "-"):
            continue
        out.append({"text": row[premise], "text_pair": row[hypothesis],
                    "label": label_index(row[label], NLI_LABELS, f"{path}:{n}")})
    return out


def load_anli(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    """ANLI+ (Phang et al.): ANLI R1-R3 + MNLI + SNLI train; dev/test = ANLI R1-R3.

    Locally, the official ``anli_v1.0/R*/<split>.jsonl`` files are used when present, adding GLUE MNLI
    (``intermediate/mnli/train.tsv``) and SNLI (``intermediate/snli/snli_1.0_train.jsonl``) to train
    when those exist. Without the official train files, the ANLI annotated-analysis dev CSVs
    (``ANLI_analysis_r{1,2,3}_dev.csv``, 3,198 rows) are the training data and dev is not offered.
    """
    if split not in ("train", "dev", "test"):
        raise unknown_split("anli", split, ("train", "dev", "test"))
    rounds = [intermediate_path(root, "anli", "anli_v1.0", f"R{r}", f"{split}.jsonl") for r in (1, 2, 3)]
    csvs = [intermediate_path(root, "anli", f"ANLI_analysis_r{r}_dev.csv") for r in (1, 2, 3)]
    if all(p.is_file() for p in rounds):
        rows = [r for p in rounds for r in _nli_jsonl(p, "context", "hypothesis", "label")]
        if split == "train":
            extra = [(intermediate_path(root, "mnli", "train.tsv"), "mnli"), (intermediate_path(root, "snli", "snli_1.0_train.jsonl"), "snli")]
            for path, name in extra:
                if not path.is_file():
                    warn_once("task anli: %s not found; ANLI+ train lacks %s", path, name.upper())
                elif name == "mnli":
                    rows += _glue_tsv("anli", path, "sentence1", "sentence2", "gold_label", NLI_LABELS)
                else:
                    rows += _nli_jsonl(path, "sentence1", "sentence2", "gold_label")
        return rows
    if split == "train" and all(p.is_file() for p in csvs):
        warn_once("task anli: official ANLI train not found (%s); training on the ANLI R1-R3 dev CSVs", rounds[0])
        rows = []
        for path in csvs:
            for n, row in enumerate(read_csv_dicts(path), start=2):
                rows.append({"text": row["context"], "text_pair": row["statement"],
                             "label": label_index(row["gold_label"], NLI_LABELS, f"{path}:{n}")})
        return rows
    why = "the ANLI dev CSVs are used as training data when no official train exists" if split == "dev" else ""
    raise missing("anli", split, language, rounds + (csvs if split == "train" else []), why=why)


def _mc_rows_hellaswag_jsonl(path: Path) -> list[Row]:
    out = []
    for row in read_jsonl(path):
        if row.get("label") in (None, ""):
            continue
        context = f"{row['activity_label']}: {row['ctx']}" if row.get("activity_label") else row["ctx"]
        out.append({"context": context, "choices": list(row["endings"]), "label": int(row["label"])})
    return out


def load_hellaswag(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    """HellaSwag; context = ``<activity label>: <ctx>`` (as in the text form of the val file)."""
    folder = intermediate_path(root, "hellaswag")
    path = _train_or_dev("hellaswag", split, [folder / "hellaswag_train.jsonl"],
                         [folder / "hellaswag_val.jsonl", folder / "hellaswag_val_full.txt"])
    if path.suffix == ".txt":
        return [dict(r, choices=list(r["choices"])) for r in read_hellaswag_txt(path)]
    return _mc_rows_hellaswag_jsonl(path)


def load_commonsenseqa(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    """CommonsenseQA jsonl: context = question stem, choices = the five answers."""
    folder = intermediate_path(root, "commonsenseqa")
    path = _train_or_dev("commonsenseqa", split, [folder / "train_rand_split.jsonl"],
                         [folder / "dev_rand_split.jsonl"])
    out = []
    for n, row in enumerate(read_jsonl(path), start=1):
        if not row.get("answerKey"):
            continue
        choices = row["question"]["choices"]
        keys = [c["label"] for c in choices]
        if row["answerKey"] not in keys:
            raise XWError(f"{path}:{n}: answerKey {row['answerKey']!r} not among {keys}")
        out.append({"context": row["question"]["stem"], "choices": [c["text"] for c in choices],
                    "label": keys.index(row["answerKey"])})
    return out


def load_cosmosqa(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    folder = intermediate_path(root, "cosmosqa")
    path = _train_or_dev("cosmosqa", split, [folder / "train.csv"], [folder / "valid.csv"])
    out = []
    for row in read_csv_dicts(path):
        if str(row.get("label", "")).strip() in ("", "-1"):
            continue
        out.append(cosmosqa_row(row["context"], row["question"], [row[f"answer{i}"] for i in range(4)],
                                int(row["label"])))
    return out


CCG_SECTIONS: dict[str, tuple[str, ...]] = {"train": tuple(f"{s:02d}" for s in range(2, 22)),
                                            "dev": ("00",), "test": ("23",)}


def _ccg_sentences(split: str, root: Path) -> tuple[list[tuple[Sequence[str], Sequence[str]]], list[Path]]:
    folder = intermediate_path(root, "ccg")
    tsv = folder / f"{split}.tsv"
    if tsv.is_file():
        out = []
        for n, row in enumerate(read_tsv_rows(tsv), start=1):
            words, tags = row[0].split(" "), row[1].split(" ")
            if len(words) != len(tags):
                raise XWError(f"{tsv}:{n}: {len(words)} tokens but {len(tags)} tags")
            out.append((words, tags))
        return out, [tsv]
    auto = folder / "ccgbank_1_1" / "data" / "AUTO"
    files = [f for s in CCG_SECTIONS[split] for f in sorted((auto / s).glob("*.auto"))]
    return [s for f in files for s in read_ccg_auto(f)], [tsv, auto]


def ccg_label_names(root: Path) -> tuple[str, ...]:
    """The CCG supertag inventory = every category in the training split, sorted (jiant's 1,363-way setup)."""
    sentences, looked = _ccg_sentences("train", root)
    if not sentences:
        raise missing("ccg", "train", "en", looked)
    return tuple(sorted({t for _, tags in sentences for t in tags}))


def load_ccg(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    """CCG supertagging; tags index :func:`ccg_label_names` (categories unseen in train -> error)."""
    if split not in CCG_SECTIONS:
        raise unknown_split("ccg", split, CCG_SECTIONS)
    sentences, looked = _ccg_sentences(split, root)
    if not sentences:
        raise missing("ccg", split, language, looked)
    names = ccg_label_names(root)
    return [{"tokens": list(words), "tags": tag_indices(tags, names, f"ccg {split}")} for words, tags in sentences]
