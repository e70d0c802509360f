"""Readers for real task files on disk, returning rows in xw's canonical schemas.

Targets are read in the layout that google-research/xtreme's ``scripts/download_data.sh``
writes (``<root>/download/<task>/...``); intermediate tasks in their official release
formats under ``<root>/intermediate/<task>/`` (SQuAD also under ``download/squad/``, where
the xtreme script puts it). Every miss raises :class:`DataNotFoundError` naming the task,
split, language, every path looked at and how to get the data, because a silent fallback
to other data would change what a reported number means.

File parses are cached per (path, mtime, size), so notebooks and tests re-read for free.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xw.errors import DataNotFoundError, XWError
from xw.tasks.base import RetrievalSet

if TYPE_CHECKING:
    from datasets import Dataset, Features

log = logging.getLogger(__name__)

Row = dict[str, Any]

# ----------------------------------------------------------------------------- label sets

NLI_LABELS: tuple[str, ...] = ("entailment", "neutral", "contradiction")  # = glue/anli/snli/xnli int order
PAWSX_LABELS: tuple[str, ...] = ("not_paraphrase", "paraphrase")  # PAWS-X label 0 / 1
QQP_LABELS: tuple[str, ...] = ("not_duplicate", "duplicate")  # glue qqp 0 / 1
SST2_LABELS: tuple[str, ...] = ("negative", "positive")  # glue sst2 0 / 1
UPOS_LABELS: tuple[str, ...] = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART",
                                "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X")  # google/xtreme udpos order
PANX_LABELS: tuple[str, ...] = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")  # google/xtreme PAN-X

# aliases seen in the official files (ANLI e/n/c, XNLI-MT "contradictory", GLUE/PAWS digits)
_LABEL_ALIASES: dict[str, str] = {"e": "entailment", "n": "neutral", "c": "contradiction",
                                  "contradictory": "contradiction"}

# ----------------------------------------------------------------------------- how to get data

XTREME_SCRIPT = "google-research/xtreme's scripts/download_data.sh"
HINTS: dict[str, str] = {
    "xnli": f"run {XTREME_SCRIPT} (writes download/xnli/), or set data.source: hub (google/xtreme 'XNLI')",
    "pawsx": f"run {XTREME_SCRIPT} (writes download/pawsx/), or set data.source: hub (google/xtreme 'PAWS-X.<lg>')",
    "udpos": f"run {XTREME_SCRIPT} (writes download/udpos/; UD CoNLL-U files also work under "
             "download/udpos/conllu/UD_*/), or set data.source: hub (google/xtreme 'udpos.<Language>')",
    "panx": f"download AmazonPhotos.zip as {XTREME_SCRIPT} explains (writes download/panx/ and the raw "
            "download/panx_dataset/<lg>-{train,dev,test}), or set data.source: hub (google/xtreme 'PAN-X.<lg>')",
    "xquad": f"run {XTREME_SCRIPT} or fetch deepmind/xquad's xquad.<lg>.json into download/xquad/ (the files "
             "must keep their answers), or set data.source: hub (google/xtreme 'XQuAD.<lg>')",
    "mlqa": f"run {XTREME_SCRIPT} (MLQA_V1.zip unpacked into download/mlqa/MLQA_V1/), or set data.source: hub "
            "(google/xtreme 'MLQA.<lg>.<lg>')",
    "tydiqa": f"run {XTREME_SCRIPT} (writes download/tydiqa/), or set data.source: hub (google/xtreme 'tydiqa')",
    "bucc2018": f"run {XTREME_SCRIPT} (writes download/bucc2018/<lg>-en.<split>.*; it deletes the test gold, so "
                "only dev is scoreable), or set data.source: hub (google/xtreme 'bucc18.<lg>', gold pairs only)",
    "tatoeba": "fetch facebookresearch/LASER data/tatoeba/v1/tatoeba.<lg3>-eng.{<lg3>,eng} into download/tatoeba/ "
               "(the xtreme script sorts the English side and hides the gold), or set data.source: hub "
               "(google/xtreme 'tatoeba.<lg3>')",
    "squad": "put SQuAD v1.1 train-v1.1.json / dev-v1.1.json (rajpurkar/SQuAD-explorer) under intermediate/squad/ "
             f"or download/squad/ ({XTREME_SCRIPT} fetches them), or set data.source: hub (rajpurkar/squad)",
    "squad_v2": "put SQuAD v2.0 train-v2.0.json / dev-v2.0.json under intermediate/squad/, or set data.source: hub "
                "(rajpurkar/squad_v2)",
    "anli": "put facebookresearch/anli's anli_v1.0/R{1,2,3}/{train,dev,test}.jsonl under intermediate/anli/ "
            "(optionally GLUE MNLI in intermediate/mnli/ and SNLI 1.0 jsonl in intermediate/snli/ to make ANLI+), "
            "or set data.source: hub (facebook/anli + nyu-mll/glue mnli + stanfordnlp/snli)",
    "mnli": "put GLUE's MNLI train.tsv / dev_matched.tsv / dev_mismatched.tsv under intermediate/mnli/, "
            "or set data.source: hub (nyu-mll/glue 'mnli')",
    "qqp": "put GLUE's QQP train.tsv / dev.tsv under intermediate/qqp/, or set data.source: hub (nyu-mll/glue 'qqp')",
    "sst2": "put GLUE's SST-2 train.tsv / dev.tsv under intermediate/sst2/, or set data.source: hub "
            "(nyu-mll/glue 'sst2')",
    "hellaswag": "put rowanz/hellaswag's data/hellaswag_{train,val}.jsonl under intermediate/hellaswag/, "
                 "or set data.source: hub (Rowan/hellaswag)",
    "commonsenseqa": "put CommonsenseQA's train_rand_split.jsonl / dev_rand_split.jsonl under "
                     "intermediate/commonsenseqa/, or set data.source: hub (tau/commonsense_qa)",
    "cosmosqa": "put Cosmos QA's train.csv / valid.csv (wilburOne/cosmosqa data/) under intermediate/cosmosqa/, "
                "or set data.source: hub (allenai/cosmos_qa)",
    "ccg": "CCGbank is licensed by the LDC (LDC2005T13) and has no public hub copy: unpack it so that "
           "intermediate/ccg/ccgbank_1_1/data/AUTO/<section>/*.auto exists (train 02-21, dev 00, test 23), "
           "or put jiant-style intermediate/ccg/{train,dev,test}.tsv (`tokens<TAB>tags`, space-separated)",
}


def missing(task: str, split: str, language: str, paths: Iterable[Path | str], why: str = "") -> DataNotFoundError:
    """The one error for absent data: task, split, language, every path looked at, and the fix."""
    looked = ", ".join(str(p) for p in paths) or "(nothing to look at)"
    reason = f": {why.rstrip('.')}" if why else ""
    return DataNotFoundError(
        f"task {task!r}: no {split!r} data for language {language!r}{reason}. Looked at: {looked}. "
        f"To get it: {HINTS.get(task, 'see the task description')}."
    )


_WARNED: set[str] = set()


def _warn_once(message: str, *args: Any) -> None:
    """Fallbacks are logged once per process, not on every (cached) load."""
    text = message % args
    if text not in _WARNED:
        _WARNED.add(text)
        log.warning("%s", text)


def _unknown_split(task: str, split: str, known: Iterable[str]) -> XWError:
    return XWError(f"task {task!r}: unknown split {split!r} for data.source local; known: {sorted(known)}")


def _first(paths: Sequence[Path]) -> Path | None:
    return next((p for p in paths if p.is_file()), None)


def _require(task: str, split: str, language: str, paths: Sequence[Path], why: str = "") -> Path:
    found = _first(paths)
    if found is None:
        raise missing(task, split, language, paths, why)
    return found


# ----------------------------------------------------------------------------- cached file parsing


def _file_cached(fn: Callable[[Path], Any]) -> Callable[[Path], Any]:
    """Cache a pure file parser on (path, mtime, size): re-reads only when the file changes."""

    @functools.lru_cache(maxsize=48)
    def cached(path: str, mtime_ns: int, size: int) -> Any:
        return fn(Path(path))

    @functools.wraps(fn)
    def wrapper(path: Path) -> Any:
        stat = Path(path).stat()
        return cached(str(path), stat.st_mtime_ns, stat.st_size)

    wrapper.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return wrapper


def _lines(path: Path) -> list[str]:
    """Lines split on '\\n' only: str.splitlines would also split on U+2028 etc. and break alignment."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


@_file_cached
def read_lines(path: Path) -> tuple[str, ...]:
    return tuple(_lines(path))


@_file_cached
def read_tsv_rows(path: Path) -> tuple[tuple[str, ...], ...]:
    """Plain tab-split rows (no quoting: XTREME/GLUE text contains bare quotes)."""
    return tuple(tuple(line.split("\t")) for line in _lines(path) if line.strip())


@_file_cached
def read_csv_dicts(path: Path) -> tuple[dict[str, str], ...]:
    """RFC-4180 CSV with a header (ANLI analysis files, Cosmos QA): quoted fields may span lines."""
    with path.open(encoding="utf-8", newline="") as handle:
        return tuple(dict(row) for row in csv.DictReader(handle))


@_file_cached
def read_jsonl(path: Path) -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(line) for line in _lines(path) if line.strip())


@_file_cached
def read_conll(path: Path) -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    """Blank-line-separated ``token<TAB>tag`` sentences; a token without a tag column gets tag ''.

    Handles the raw Rahimi PAN-X files too: the ``<lg>:`` prefix stays on the token here and is
    removed by :func:`_strip_lang_prefix`.
    """
    sentences: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    tokens: list[str] = []
    tags: list[str] = []
    for line in _lines(path) + [""]:
        if not line.strip() or line.startswith("-DOCSTART-"):
            if tokens:
                sentences.append((tuple(tokens), tuple(tags)))
                tokens, tags = [], []
            continue
        parts = line.split("\t")
        tokens.append(parts[0])
        tags.append(parts[-1].strip() if len(parts) > 1 else "")
    return tuple(sentences)


@_file_cached
def read_conllu_upos(path: Path) -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    """CoNLL-U -> (words, UPOS) per sentence, with multiword tokens kept as their surface form.

    Like xtreme's conversion (ud-conversion-tools ``--replace_subtokens_with_fused_forms``), a
    fused token ("zum" = zu + dem) replaces its syntactic words and takes the tag of the first
    word whose head lies outside the span (the span's head), so "zum" is ADP as in xtreme's files.
    Empty nodes (ids like 8.1) are skipped.
    """
    sentences: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    rows: list[list[str]] = []

    def flush() -> None:
        if not rows:
            return
        words: list[str] = []
        tags: list[str] = []
        spans = {}
        for cols in rows:
            if "-" in cols[0]:
                first, last = (int(x) for x in cols[0].split("-"))
                spans[first] = (last, cols[1])
        syntactic = {int(c[0]): c for c in rows if c[0].isdigit()}
        i = 1
        while i <= max(syntactic, default=0):
            if i in spans:
                last, form = spans[i]
                members = [syntactic[j] for j in range(i, last + 1) if j in syntactic]
                head = next((c for c in members if not (c[6].isdigit() and i <= int(c[6]) <= last)), members[0])
                words.append(form)
                tags.append(head[3])
                i = last + 1
            else:
                if i in syntactic:
                    words.append(syntactic[i][1])
                    tags.append(syntactic[i][3])
                i += 1
        sentences.append((tuple(words), tuple(tags)))
        rows.clear()

    for line in _lines(path):
        if not line.strip():
            flush()
        elif not line.startswith("#"):
            cols = line.split("\t")
            if len(cols) >= 10 and "." not in cols[0]:
                rows.append(cols)
    flush()
    return tuple(sentences)


@_file_cached
def read_squad_json(path: Path) -> tuple[Row, ...]:
    """SQuAD-format JSON -> canonical QA rows (context kept byte-exact so answer_start stays valid)."""
    with path.open(encoding="utf-8") as handle:
        data = json.load(handle)
    rows: list[Row] = []
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                answers = qa.get("answers") or []
                rows.append({
                    "id": str(qa["id"]),
                    "context": context,
                    "question": qa["question"],
                    "answers": {"text": [a["text"] for a in answers],
                                "answer_start": [int(a["answer_start"]) for a in answers]},
                })
    return tuple(rows)


@_file_cached
def read_id_sentences(path: Path) -> tuple[tuple[str, str], ...]:
    """BUCC ``<lg>-000000001<TAB>sentence`` lines (split on the first tab only)."""
    out = []
    for line in _lines(path):
        if line.strip():
            sid, _, text = line.partition("\t")
            out.append((sid, text))
    return tuple(out)


@_file_cached
def read_hellaswag_txt(path: Path) -> tuple[Row, ...]:
    """klosax text form of hellaswag_val.jsonl: 6 lines per example (context, gold index, 4 endings)."""
    lines = _lines(path)
    if len(lines) % 6:
        raise XWError(f"{path}: {len(lines)} lines is not a multiple of 6 (context, label, 4 endings)")
    return tuple({"context": lines[i], "choices": list(lines[i + 2:i + 6]), "label": int(lines[i + 1])}
                 for i in range(0, len(lines), 6))


_CCG_LEAF = re.compile(r"<L (\S+) \S+ \S+ (\S+) \S+>")


@_file_cached
def read_ccg_auto(path: Path) -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    """CCGbank AUTO file -> (words, lexical categories) per derivation line."""
    out = []
    for line in _lines(path):
        if line.startswith("("):
            leaves = _CCG_LEAF.findall(line)
            if leaves:
                out.append((tuple(w for _, w in leaves), tuple(c for c, _ in leaves)))
    return tuple(out)


# ----------------------------------------------------------------------------- helpers


def label_index(value: Any, names: Sequence[str], where: str) -> int:
    """A label given as name, alias, int or digit string -> its index in ``names``."""
    if isinstance(value, bool):
        raise XWError(f"{where}: label {value!r} is not a label")
    if isinstance(value, int):
        if 0 <= value < len(names):
            return value
        raise XWError(f"{where}: label {value} is outside 0..{len(names) - 1} ({', '.join(names)})")
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return label_index(int(text), names, where)
    name = _LABEL_ALIASES.get(text.lower(), text)
    if name in names:
        return names.index(name)
    raise XWError(f"{where}: unknown label {value!r}; expected one of {list(names)}")


def _tag_indices(tags: Sequence[str], names: Sequence[str], where: str) -> list[int]:
    lookup = {n: i for i, n in enumerate(names)}
    try:
        return [lookup[t] for t in tags]
    except KeyError as err:
        raise XWError(f"{where}: unknown tag {err.args[0]!r}; expected one of {list(names)}") from None


def _looks_like_placeholder(labels: Sequence[Any], minimum: int = 50) -> bool:
    """XTREME's public test files carry one constant placeholder label (xtreme issue 24)."""
    return len(labels) >= minimum and len(set(labels)) <= 1


def _placeholder(task: str, split: str, language: str, path: Path) -> DataNotFoundError:
    return missing(task, split, language, [path],
                   why=f"{path.name} carries no real labels (XTREME strips or replaces test labels, "
                       "google-research/xtreme issue 24); evaluate on a split with real labels")


def _dl(root: Path, *parts: str) -> Path:
    return root.joinpath("download", *parts)


def _im(root: Path, *parts: str) -> Path:
    return root.joinpath("intermediate", *parts)


# ----------------------------------------------------------------------------- canonical Datasets


def canonical_features(kind: str, pair: bool = False) -> Features:
    """The arrow schema of each canonical kind (explicit, so empty answer lists keep their type)."""
    from datasets import Features, List, Value

    if kind == "classification":
        cols: dict[str, Any] = {"text": Value("string")}
        if pair:
            cols["text_pair"] = Value("string")
        cols["label"] = Value("int64")
        return Features(cols)
    if kind == "tagging":
        return Features({"tokens": List(Value("string")), "tags": List(Value("int64"))})
    if kind == "qa":
        return Features({"id": Value("string"), "context": Value("string"), "question": Value("string"),
                         "answers": {"text": List(Value("string")), "answer_start": List(Value("int64"))}})
    if kind == "multiple_choice":
        return Features({"context": Value("string"), "choices": List(Value("string")), "label": Value("int64")})
    raise ValueError(f"no canonical Dataset schema for kind {kind!r}")


def to_dataset(kind: str, rows: Sequence[Row], pair: bool = False) -> Dataset:
    """Canonical rows -> a ``datasets.Dataset`` with the canonical features."""
    from datasets import Dataset

    features = canonical_features(kind, pair)
    columns = {name: [row[name] for row in rows] for name in features}
    return Dataset.from_dict(columns, features=features)


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
    folder = _dl(root, task)
    full_layout = (folder / "train-en.tsv").is_file()
    if split == "labeled_test" and task == "pawsx":
        path = _require(task, split, language, [folder / "labeled_test" / f"test-{language}.tsv"])
        rows = [r[1:] for r in read_tsv_rows(path)[1:]]  # header id, sentence1, sentence2, label
        return _pair_rows(rows, names, path)
    if full_layout:
        if split not in ("train", "dev", "test"):
            raise _unknown_split(task, split, ("train", "dev", "test") + (("labeled_test",) if task == "pawsx" else ()))
        path = _require(task, split, language, [folder / f"{split}-{language}.tsv"])
        rows = _drop_header(read_tsv_rows(path))
        labels = [r[2] if len(r) > 2 else "" for r in rows]
        if split == "test" and (any(not lab for lab in labels) or _looks_like_placeholder(labels)):
            raise _placeholder(task, split, language, path)
        return _pair_rows(rows, names, path)
    if split in ("train", "test"):
        return _split_dev(task, split, language, folder, names, options)
    if split == "dev":
        raise missing(task, split, language, [folder / "train-en.tsv"],
                      why="without English training data the labelled dev files are split by example id into "
                          "'train' (English part A) and 'test' (part B), so no separate dev split exists")
    raise _unknown_split(task, split, ("train", "test", "dev") + (("labeled_test",) if task == "pawsx" else ()))


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
    if any(t == "" for t in tags_flat) or _looks_like_placeholder(tags_flat):
        raise _placeholder(task, split, language, path)
    rows = []
    for n, (tokens, tags) in enumerate(sentences):
        words = _strip_lang_prefix(tokens, language) if prefix else list(tokens)
        rows.append({"tokens": words, "tags": _tag_indices(tags, names, f"{path} sentence {n + 1}")})
    return rows


def load_udpos(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    """xtreme's ``<split>-<lg>.tsv``; else every ``conllu/UD_*/<lg>_*-ud-<split>.conllu`` treebank file."""
    if split not in ("train", "dev", "test"):
        raise _unknown_split("udpos", split, ("train", "dev", "test"))
    folder = _dl(root, "udpos")
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
        raise _unknown_split("panx", split, ("train", "dev", "test"))
    tsv = _dl(root, "panx", f"{split}-{language}.tsv")
    raw = _dl(root, "panx_dataset", f"{language}-{split}")
    raw_dir = _dl(root, "panx_dataset", language, split)  # the tarball extracted in place
    order = [raw, raw_dir, tsv] if split == "test" else [tsv, raw, raw_dir]
    path = _require("panx", split, language, order)
    return _tagging_rows("panx", split, language, read_conll(path), PANX_LABELS, path, prefix=path != tsv)


# ----------------------------------------------------------------------------- QA targets


def _qa_rows(task: str, split: str, language: str, path: Path, unanswerable_ok: bool = False) -> list[Row]:
    rows = read_squad_json(path)
    if not unanswerable_ok and rows and all(not r["answers"]["text"] for r in rows):
        raise _placeholder(task, split, language, path)
    return [dict(r, answers={k: list(v) for k, v in r["answers"].items()}) for r in rows]


def _squad_paths(root: Path, name: str) -> list[Path]:
    return [_im(root, "squad", name), _dl(root, "squad", name)]


def _squad_train(task: str, split: str, language: str, root: Path) -> list[Row]:
    """XQuAD and MLQA have no training data of their own: XTREME trains on SQuAD v1.1."""
    if language != "en":
        raise missing(task, split, language, [], why="the QA training data (SQuAD v1.1) is English only")
    path = _require(task, split, language, _squad_paths(root, "train-v1.1.json"),
                    why="XQuAD/MLQA are trained on SQuAD v1.1 train")
    return _qa_rows(task, split, language, path)


def load_xquad(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    if split == "train":
        return _squad_train("xquad", split, language, root)
    if split != "test":
        raise _unknown_split("xquad", split, ("train", "test"))
    path = _require("xquad", split, language, [_dl(root, "xquad", f"xquad.{language}.json")])
    return _qa_rows("xquad", split, language, path)


def load_mlqa(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    """Same-language context/question pairs (XTREME's MLQA setting)."""
    if split == "train":
        return _squad_train("mlqa", split, language, root)
    if split not in ("dev", "test"):
        raise _unknown_split("mlqa", split, ("train", "dev", "test"))
    path = _require("mlqa", split, language,
                    [_dl(root, "mlqa", "MLQA_V1", split, f"{split}-context-{language}-question-{language}.json")])
    return _qa_rows("mlqa", split, language, path)


TYDIQA_NAMES: dict[str, str] = {"ar": "arabic", "bn": "bengali", "en": "english", "fi": "finnish",
                                "id": "indonesian", "ko": "korean", "ru": "russian", "sw": "swahili",
                                "te": "telugu"}


def load_tydiqa(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    """TyDiQA-GoldP: xtreme's per-language train/dev files (the dev set is XTREME's test set)."""
    folder = _dl(root, "tydiqa")
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
        raise _unknown_split("tydiqa", split, ("train", "dev"))
    return _qa_rows("tydiqa", split, language, _require("tydiqa", split, language, paths))


# ----------------------------------------------------------------------------- retrieval targets


def load_bucc2018(split: str, language: str, root: Path, options: dict[str, Any]) -> RetrievalSet:
    """BUCC 2018 ``<lg>-en.<split>.{<lg>,en,gold}``: all sentences (gold + distractors) and the gold pairs."""
    if split not in ("dev", "test"):
        raise _unknown_split("bucc2018", split, ("dev", "test"))
    stem = _dl(root, "bucc2018", f"{language}-en.{split}")
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


TATOEBA_CODES: dict[str, str] = {
    "af": "afr", "ar": "ara", "bg": "bul", "bn": "ben", "de": "deu", "el": "ell", "es": "spa", "et": "est",
    "eu": "eus", "fa": "pes", "fi": "fin", "fr": "fra", "he": "heb", "hi": "hin", "hu": "hun", "id": "ind",
    "it": "ita", "ja": "jpn", "jv": "jav", "ka": "kat", "kk": "kaz", "ko": "kor", "ml": "mal", "mr": "mar",
    "nl": "nld", "pt": "por", "ru": "rus", "sw": "swh", "ta": "tam", "te": "tel", "th": "tha", "tl": "tgl",
    "tr": "tur", "ur": "urd", "vi": "vie", "zh": "cmn",
}


def aligned_retrieval_set(language: str, source: Sequence[str], english: Sequence[str]) -> RetrievalSet:
    """Line i of one side translates line i of the other: ids ``<lg>-<i>`` / ``en-<i>``, gold = identity."""
    source_ids = [f"{language}-{i}" for i in range(len(source))]
    target_ids = [f"en-{i}" for i in range(len(english))]
    return RetrievalSet(source_ids=source_ids, source_texts=list(source), target_ids=target_ids,
                        target_texts=list(english), gold=list(zip(source_ids, target_ids, strict=True)))


def load_tatoeba(split: str, language: str, root: Path, options: dict[str, Any]) -> RetrievalSet:
    """Tatoeba (LASER v1) line-aligned pairs; the English side must be in the original aligned order."""
    if split != "test":
        raise _unknown_split("tatoeba", split, ("test",))
    folder = _dl(root, "tatoeba")
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


# ----------------------------------------------------------------------------- intermediate tasks


def _train_or_dev(task: str, split: str, train: Sequence[Path], dev: Sequence[Path]) -> Path:
    """Official train if present; else (documented) the labelled dev/val file stands in as training data.

    The dev split is then not offered, since it is the training data.
    """
    if split == "train":
        found = _first(train)
        if found is None:
            found = _first(dev)
            if found is not None:
                _warn_once("task %s: no official train file (%s); training on the labelled dev/val file %s",
                           task, ", ".join(map(str, train)), found)
        if found is None:
            raise missing(task, split, "en", list(train) + list(dev))
        return found
    if split == "dev":
        if _first(train) is None and _first(dev) is not None:
            raise missing(task, split, "en", train,
                          why="the dev/val file is used as training data when no train file exists")
        return _require(task, split, "en", dev)
    raise _unknown_split(task, split, ("train", "dev"))


def load_squad(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    if split not in ("train", "dev"):
        raise _unknown_split("squad", split, ("train", "dev"))
    name = "train-v1.1.json" if split == "train" else "dev-v1.1.json"
    path = _require("squad", split, language, _squad_paths(root, name))
    return _qa_rows("squad", split, language, path)


def load_squad_v2(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    path = _train_or_dev("squad_v2", split, _squad_paths(root, "train-v2.0.json"), _squad_paths(root, "dev-v2.0.json"))
    return _qa_rows("squad_v2", split, language, path, unanswerable_ok=True)


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
        raise _unknown_split("mnli", split, files)
    path = _require("mnli", split, language, [_im(root, d, files[split]) for d in ("mnli", "MNLI")])
    return _glue_tsv("mnli", path, "sentence1", "sentence2", "gold_label", NLI_LABELS)


def load_qqp(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    if split not in ("train", "dev"):
        raise _unknown_split("qqp", split, ("train", "dev"))
    path = _require("qqp", split, language, [_im(root, d, f"{split}.tsv") for d in ("qqp", "QQP")])
    return _glue_tsv("qqp", path, "question1", "question2", "is_duplicate", QQP_LABELS)


def load_sst2(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    """SST-2 ``sentence<TAB>label``. The curated tree's test.tsv is GLUE dev (labelled), its train/dev a re-split."""
    if split not in ("train", "dev", "test"):
        raise _unknown_split("sst2", split, ("train", "dev", "test"))
    path = _require("sst2", split, language, [_im(root, d, f"{split}.tsv") for d in ("sst2", "SST-2")])
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
        raise _unknown_split("anli", split, ("train", "dev", "test"))
    rounds = [_im(root, "anli", "anli_v1.0", f"R{r}", f"{split}.jsonl") for r in (1, 2, 3)]
    csvs = [_im(root, "anli", f"ANLI_analysis_r{r}_dev.csv") for r in (1, 2, 3)]
    if all(p.is_file() for p in rounds):
        rows = [r for p in rounds for r in _nli_jsonl(p, "context", "hypothesis", "label")]
        if split == "train":
            extra = [(_im(root, "mnli", "train.tsv"), "mnli"), (_im(root, "snli", "snli_1.0_train.jsonl"), "snli")]
            for path, name in extra:
                if not path.is_file():
                    _warn_once("task anli: %s not found; ANLI+ train lacks %s", path, name.upper())
                elif name == "mnli":
                    rows += _glue_tsv("anli", path, "sentence1", "sentence2", "gold_label", NLI_LABELS)
                else:
                    rows += _nli_jsonl(path, "sentence1", "sentence2", "gold_label")
        return rows
    if split == "train" and all(p.is_file() for p in csvs):
        _warn_once("task anli: official ANLI train not found (%s); training on the ANLI R1-R3 dev CSVs", rounds[0])
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
    folder = _im(root, "hellaswag")
    path = _train_or_dev("hellaswag", split, [folder / "hellaswag_train.jsonl"],
                         [folder / "hellaswag_val.jsonl", folder / "hellaswag_val_full.txt"])
    if path.suffix == ".txt":
        return [dict(r, choices=list(r["choices"])) for r in read_hellaswag_txt(path)]
    return _mc_rows_hellaswag_jsonl(path)


def load_commonsenseqa(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    """CommonsenseQA jsonl: context = question stem, choices = the five answers."""
    folder = _im(root, "commonsenseqa")
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


def cosmosqa_row(context: str, question: str, answers: Sequence[str], label: int) -> Row:
    """Cosmos QA as (passage, question + answer) pairs, as jiant encodes it."""
    return {"context": context, "choices": [f"{question} {a}" for a in answers], "label": int(label)}


def load_cosmosqa(split: str, language: str, root: Path, options: dict[str, Any]) -> list[Row]:
    folder = _im(root, "cosmosqa")
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
    folder = _im(root, "ccg")
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
        raise _unknown_split("ccg", split, CCG_SECTIONS)
    sentences, looked = _ccg_sentences(split, root)
    if not sentences:
        raise missing("ccg", split, language, looked)
    names = ccg_label_names(root)
    return [{"tokens": list(words), "tags": _tag_indices(tags, names, f"ccg {split}")} for words, tags in sentences]


# ----------------------------------------------------------------------------- dispatch

LOADERS: dict[str, Callable[[str, str, Path, dict[str, Any]], list[Row] | RetrievalSet]] = {
    "xnli": load_xnli, "pawsx": load_pawsx, "udpos": load_udpos, "panx": load_panx, "xquad": load_xquad,
    "mlqa": load_mlqa, "tydiqa": load_tydiqa, "bucc2018": load_bucc2018, "tatoeba": load_tatoeba,
    "anli": load_anli, "mnli": load_mnli, "qqp": load_qqp, "sst2": load_sst2, "squad": load_squad,
    "squad_v2": load_squad_v2, "hellaswag": load_hellaswag, "commonsenseqa": load_commonsenseqa,
    "cosmosqa": load_cosmosqa, "ccg": load_ccg,
}


def load(task: str, split: str, language: str, root: Path | None,
         options: dict[str, Any] | None = None) -> list[Row] | RetrievalSet:
    """Rows (or a RetrievalSet) of one task/split/language from the files under ``root``."""
    if root is None:
        raise XWError(f"task {task!r}: data.source is 'local' but data.root is not set; point it at the folder "
                      "that holds download/ (and intermediate/)")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise missing(task, split, language, [root], why="data.root does not exist")
    return LOADERS[task](split, language, root, dict(options or {}))
