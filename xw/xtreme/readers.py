"""File-format readers for real task files: plain parsing into tuples, cached per file.

Why: the per-task loaders (:mod:`xw.xtreme.local_targets`, :mod:`xw.xtreme.local_intermediate`)
share a handful of formats (TSV, CoNLL, CoNLL-U, SQuAD JSON, JSONL, CSV, CCGbank AUTO); parsing
each once, cached per (path, mtime, size), lets notebooks and tests re-read for free, and keeps
format quirks (line splitting, fused tokens, quoting) in one place. Readers know nothing about tasks; each
parse (cached or not) is reported to :func:`xw.tasks.revision.record_file`, so a row can name the files it read.
"""

from __future__ import annotations

import csv
import functools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xw.errors import XWError
from xw.tasks.revision import record_file

Row = dict[str, Any]


def _file_cached(fn: Callable[[Path], Any]) -> Callable[[Path], Any]:
    """Cache a pure file parser on (path, mtime, size): re-reads only when the file changes; every call is
    recorded as a read of the file (the data revision, xw.tasks.revision), a cache hit included."""

    @functools.lru_cache(maxsize=48)
    def cached(path: str, mtime_ns: int, size: int) -> Any:
        return fn(Path(path))

    @functools.wraps(fn)
    def wrapper(path: Path) -> Any:
        stat = Path(path).stat()
        record_file(path)
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
    removed by the PAN-X loader (:mod:`xw.xtreme.local_targets`).
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
