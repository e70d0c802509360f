"""Local files of the XTREME targets, read in the layout xtreme's download script writes.

Why: each target's quirks (XNLI / PAW-X without English training data split their labelled dev
set by example id, placeholder-labelled test files are refused, PAN-X's raw files carry a
``<lg>:`` prefix, Tatoeba's English side must keep its original order) live next to the reader
of that target, one ``load_<task>(split, language, root, options)`` each, referenced by the
task's definition in :mod:`xw.xtreme.tasks`. Every miss raises :func:`xw.xtreme.files.missing`.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xw.errors import XWError
from xw.tasks.base import RetrievalSet
from xw.tasks.labels import NLI_LABELS
from xw.xtreme.canonical import (
    PANX_LABELS,
    PAWSX_LABELS,
    UPOS_LABELS,
    aligned_retrieval_set,
    label_index,
    tag_indices,
)
from xw.xtreme.files import (
    download_path,
    looks_like_placeholder,
    missing,
    placeholder_labels,
    qa_rows,
    require,
    squad_paths,
    unknown_split,
)
from xw.xtreme.languages import TATOEBA_CODES, TYDIQA_NAMES
from xw.xtreme.readers import Row, read_conll, read_conllu_upos, read_id_sentences, read_lines, read_tsv_rows

# ----------------------------------------------------------------------------- classification targets


def _pair_rows(rows: Sequence[Sequence[str]], names: Sequence[str], path: Path) -> list[Row]:
    out = []
    for i, row in enumerate(rows):
        if len(row) < 3:
            raise XWError(f"{path}:{i + 1}: expected premise<TAB>hypothesis<TAB>label, got {len(row)} columns")
        out.append({"text": row[0], "text_pair": row[1],
                    "label": label_index(row[2], names, f"{path}:{i + 1}")})
    return out


def _drop_header(rows: Sequence[Sequence[str]]) -> Sequence[Sequence[str]]:
    if rows and rows[0] and rows[0][-1].strip().lower() in ("label", "gold_label"):
        return rows[1:]
    return rows


@functools.lru_cache(maxsize=16)
def _dev_part_a(en_path: str, mtime_ns: int, task: str, fraction: float) -> tuple[bool, ...]:
    """Which dev rows go to part A (English training), grouping rows that share any English text.

    XNLI has three hypotheses per premise; PAWS-X reuses source sentences across pairs. Grouping
    by shared text before splitting keeps every translation of a training item, and every item
    built on the same sentence, out of the evaluation part. The assignment hashes the group's
    first row index, so it is stable across runs, machines and languages.
    """
    rows = read_tsv_rows(Path(en_path))
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for row in rows:
        a, b = find(row[0]), find(row[1])
        if a != b:
            parent[b] = a
    first_row: dict[str, int] = {}
    for i, row in enumerate(rows):
        first_row.setdefault(find(row[0]), i)
    # groups ordered by a hash of their first row index; the first `fraction` of them form part A
    ranked = sorted(first_row.values(), key=lambda i: hashlib.sha1(f"{task}:{i}".encode()).hexdigest())
    part_a = set(ranked[: round(fraction * len(ranked))])
    return tuple(first_row[find(row[0])] in part_a for row in rows)


def dev_fraction(options: dict[str, Any]) -> float:
    fraction = float(options.get("dev_train_fraction", 0.5))
    if not 0.0 < fraction < 1.0:
        raise XWError(f"data option dev_train_fraction must be between 0 and 1, got {fraction}")
    return fraction


def _split_dev(task: str, split: str, language: str, folder: Path, names: Sequence[str],
               options: dict[str, Any]) -> list[Row]:
    """No English train on disk: train = English dev part A, test = part B of the language's dev."""
    en_path = folder / "dev-en.tsv"
    path = folder / f"dev-{language}.tsv"
    if not en_path.is_file():
        raise missing(task, split, language, [folder / "train-en.tsv", en_path],
                      why="without train-en.tsv the labelled dev set is split by example id, which needs dev-en.tsv")
    if not path.is_file():
        raise missing(task, split, language, [path])
    rows = read_tsv_rows(path)
    part_a = _dev_part_a(str(en_path), en_path.stat().st_mtime_ns, task, dev_fraction(options))
    if len(rows) != len(part_a):
        raise XWError(f"task {task!r}: {path} has {len(rows)} rows but {en_path} has {len(part_a)}; the dev files "
                      "must be line-aligned translations to split them by example id")
    keep = split == "train"
    chosen = [row for row, a in zip(rows, part_a, strict=True) if a == keep]
    return _pair_rows(chosen, names, path)


def _pair_task(task: str, split: str, language: str, root: Path, options: dict[str, Any],
               names: Sequence[str]) -> list[Row]:
    """XNLI / PAWS-X. With xtreme's train-en.tsv present: the usual train/dev/test files.

    Without it (the curated tree): ``train`` = English dev part A, ``test`` = dev part B of the
    language (see :func:`_dev_part_a`); ``dev`` is not offered since its rows are in train or test.
    """
    folder = download_path(root, task)
    full_layout = (folder / "train-en.tsv").is_file()
    if split == "labeled_test" and task == "pawsx":
        path = require(task, split, language, [folder / "labeled_test" / f"test-{language}.tsv"])
        rows = [r[1:] for r in read_tsv_rows(path)[1:]]  # header id, sentence1, sentence2, label
        return _pair_rows(rows, names, path)
    if full_layout:
        if split not in ("train", "dev", "test"):
            raise unknown_split(task, split, ("train", "dev", "test") + (("labeled_test",) if task == "pawsx" else ()))
        path = require(task, split, language, [folder / f"{split}-{language}.tsv"])
        rows = _drop_header(read_tsv_rows(path))
        labels = [r[2] if len(r) > 2 else "" for r in rows]
        if split == "test" and (any(not lab for lab in labels) or looks_like_placeholder(labels)):
            raise placeholder_labels(task, split, language, path)
        return _pair_rows(rows, names, path)
    if split in ("train", "test"):
        return _split_dev(task, split, language, folder, names, options)
    if split == "dev":
        raise missing(task, split, language, [folder / "train-en.tsv"],
                      why="without English training data the labelled dev files are split by example id into "
                          "'train' (English part A) and 'test' (part B), so no separate dev split exists")
    raise unknown_split(task, split, ("train", "test", "dev") + (("labeled_test",) if task == "pawsx" else ()))


def load_xnli(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    return _pair_task("xnli", split, language, root, options, NLI_LABELS)


def load_pawsx(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    return _pair_task("pawsx", split, language, root, options, PAWSX_LABELS)


# ----------------------------------------------------------------------------- tagging targets


def _strip_lang_prefix(tokens: Sequence[str], language: str) -> list[str]:
    prefix = f"{language}:"
    return [t[len(prefix):] if t.startswith(prefix) else t for t in tokens]


Sentences = Sequence[tuple[Sequence[str], Sequence[str]]]


def _tagging_rows(task: str, split: str, language: str, sentences: Sentences, names: Sequence[str], path: Path,
                  prefix: bool = False) -> list[Row]:
    tags_flat = [t for _, tags in sentences for t in tags]
    if any(t == "" for t in tags_flat) or looks_like_placeholder(tags_flat):
        raise placeholder_labels(task, split, language, path)
    rows = []
    for n, (tokens, tags) in enumerate(sentences):
        words = _strip_lang_prefix(tokens, language) if prefix else list(tokens)
        rows.append({"tokens": words, "tags": tag_indices(tags, names, f"{path} sentence {n + 1}")})
    return rows


def load_udpos(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    """xtreme's ``<split>-<lg>.tsv``; else every ``conllu/UD_*/<lg>_*-ud-<split>.conllu`` treebank file."""
    if split not in ("train", "dev", "test"):
        raise unknown_split("udpos", split, ("train", "dev", "test"))
    folder = download_path(root, "udpos")
    tsv = folder / f"{split}-{language}.tsv"
    if tsv.is_file():
        return _tagging_rows("udpos", split, language, read_conll(tsv), UPOS_LABELS, tsv)
    pattern = f"conllu/*/{language}_*-ud-{split}.conllu"
    files = sorted(folder.glob(pattern))
    if not files:
        raise missing("udpos", split, language, [tsv, folder / pattern])
    rows: list[Row] = []
    for path in files:
        rows += _tagging_rows("udpos", split, language, read_conllu_upos(path), UPOS_LABELS, path)
    return rows


def load_panx(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    """xtreme's ``panx/<split>-<lg>.tsv`` or the raw ``panx_dataset/<lg>-<split>`` (``<lg>:token`` lines).

    For test the raw file comes first: xtreme's processed test files have their labels removed.
    """
    if split not in ("train", "dev", "test"):
        raise unknown_split("panx", split, ("train", "dev", "test"))
    tsv = download_path(root, "panx", f"{split}-{language}.tsv")
    raw = download_path(root, "panx_dataset", f"{language}-{split}")
    raw_dir = download_path(root, "panx_dataset", language, split)  # the tarball extracted in place
    order = [raw, raw_dir, tsv] if split == "test" else [tsv, raw, raw_dir]
    path = require("panx", split, language, order)
    return _tagging_rows("panx", split, language, read_conll(path), PANX_LABELS, path, prefix=path != tsv)


def _squad_train(task: str, split: str, language: str, root: Path) -> list[Row]:
    """XQuAD and MLQA have no training data of their own: XTREME trains on SQuAD v1.1."""
    if language != "en":
        raise missing(task, split, language, [], why="the QA training data (SQuAD v1.1) is English only")
    path = require(task, split, language, squad_paths(root, "train-v1.1.json"),
                    why="XQuAD/MLQA are trained on SQuAD v1.1 train")
    return qa_rows(task, split, language, path)


def load_xquad(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    if split == "train":
        return _squad_train("xquad", split, language, root)
    if split != "test":
        raise unknown_split("xquad", split, ("train", "test"))
    path = require("xquad", split, language, [download_path(root, "xquad", f"xquad.{language}.json")])
    return qa_rows("xquad", split, language, path)


def load_mlqa(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    """Same-language context/question pairs (XTREME's MLQA setting)."""
    if split == "train":
        return _squad_train("mlqa", split, language, root)
    if split not in ("dev", "test"):
        raise unknown_split("mlqa", split, ("train", "dev", "test"))
    path = require("mlqa", split, language,
                    [download_path(root, "mlqa", "MLQA_V1", split, f"{split}-context-{language}-question-{language}.json")])
    return qa_rows("mlqa", split, language, path)


def load_tydiqa(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    """TyDiQA-GoldP: xtreme's per-language train/dev files (the dev set is XTREME's test set)."""
    folder = download_path(root, "tydiqa")
    name = TYDIQA_NAMES.get(language, language)
    if split == "train":
        paths = [folder / "tydiqa-goldp-v1.1-train" / f"tydiqa.goldp.{language}.train.json",
                 folder / "tydiqa-goldp-v1.1-train" / f"tydiqa.{language}.train.json"]
    elif split == "dev":
        paths = [folder / "tydiqa-goldp-v1.1-dev" / f"tydiqa.goldp.{language}.dev.json",
                 folder / "tydiqa-goldp-v1.1-dev" / f"tydiqa-goldp-dev-{name}.json"]
    elif split == "test":
        raise missing("tydiqa", split, language, [],
                      why="TyDiQA-GoldP has no public test set; XTREME evaluates on its dev set (split 'dev')")
    else:
        raise unknown_split("tydiqa", split, ("train", "dev"))
    return qa_rows("tydiqa", split, language, require("tydiqa", split, language, paths))


# ----------------------------------------------------------------------------- retrieval targets


def load_bucc2018(split: str, language: str, root: Path, options: dict[str, Any]) -> RetrievalSet:
    """BUCC 2018 ``<lg>-en.<split>.{<lg>,en,gold}``: all sentences (gold + distractors) and the gold pairs."""
    if split not in ("dev", "test"):
        raise unknown_split("bucc2018", split, ("dev", "test"))
    stem = download_path(root, "bucc2018", f"{language}-en.{split}")
    paths = [Path(f"{stem}.{language}"), Path(f"{stem}.en"), Path(f"{stem}.gold")]
    absent = [p for p in paths if not p.is_file()]
    if absent:
        why = ("xtreme's download script deletes the test gold, so only dev can be scored"
               if split == "test" and absent == [paths[2]] else "")
        raise missing("bucc2018", split, language, absent, why=why)
    source = read_id_sentences(paths[0])
    target = read_id_sentences(paths[1])
    gold = [(row[0], row[1]) for row in read_tsv_rows(paths[2])]
    source_ids = {s for s, _ in source}
    target_ids = {t for t, _ in target}
    stray = [g for g in gold if g[0] not in source_ids or g[1] not in target_ids]
    if stray:
        raise XWError(f"task 'bucc2018': {len(stray)} gold pairs in {paths[2]} name sentences absent from the "
                      f"text files, e.g. {stray[0]}")
    return RetrievalSet(source_ids=[s for s, _ in source], source_texts=[t for _, t in source],
                        target_ids=[s for s, _ in target], target_texts=[t for _, t in target], gold=gold)


def load_tatoeba(split: str, language: str, root: Path, options: dict[str, Any]) -> RetrievalSet:
    """Tatoeba (LASER v1) line-aligned pairs; the English side must be in the original aligned order."""
    if split != "test":
        raise unknown_split("tatoeba", split, ("test",))
    folder = download_path(root, "tatoeba")
    code = TATOEBA_CODES.get(language, language)
    candidates = [(folder / f"{language}-en.{language}", folder / f"{language}-en.en"),
                  (folder / f"tatoeba.{code}-eng.{code}", folder / f"tatoeba.{code}-eng.eng")]
    pair = next(((s, e) for s, e in candidates if s.is_file() and e.is_file()), None)
    if pair is None:
        raise missing("tatoeba", split, language, [p for c in candidates for p in c])
    source, english = read_lines(pair[0]), read_lines(pair[1])
    if len(source) != len(english):
        raise XWError(f"task 'tatoeba': {pair[0]} has {len(source)} lines but {pair[1]} has {len(english)}")
    if len(english) > 10 and list(english) == sorted(english) and list(source) != sorted(source):
        raise missing("tatoeba", split, language, [pair[1]],
                      why="its English side is sorted (as xtreme's script writes it), so line i no longer "
                          "translates line i and the gold alignment is unknown; use LASER's original files")
    return aligned_retrieval_set(language, source, english)
