"""Every XTREME target and English intermediate task end to end on the curated real files.

The real loaders feed the real cells (xw.cells.run_cell) of a tiny XLM-R built from config,
with a WordPiece tokenizer trained on the fly on a sample of the same files (no download):
a few training steps, evaluation on every language the files have among LANGUAGES, metrics
in their valid range. A second group checks that the loaders return exactly as many examples
as the files hold, counted independently (lines, blank-line blocks, JSON questions, CSV rows).
Skipped as a whole only when ../shared/data/xtreme-real is absent.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import random
from pathlib import Path

import pytest
import torch
import yaml

from xw import checkpoints
from xw.cells import Cell, run_cell
from xw.errors import DataNotFoundError
from xw.study import load_study
from xw.tasks import DataConfig, RetrievalSet, get_task

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "xtreme-real"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not REAL.is_dir(), reason=f"real XTREME files not found at {REAL}")]

TARGETS = ("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba")
INTERMEDIATE = ("anli", "mnli", "qqp", "sst2", "squad", "hellaswag", "commonsenseqa", "cosmosqa", "ccg")
LANGUAGES = ["en", "de", "zh", "ar"]  # every target has at least two of them locally (bucc2018: zh only)
QA = ("xquad", "mlqa", "tydiqa", "squad")
TRAINING = {"learning_rate": 1e-3, "batch_size": 8, "max_steps": 3, "max_length": 64, "doc_stride": 32,
            "max_train_examples": 64, "max_eval_examples": 24, "eval_batch_size": 32}
QA_TRAINING = {"max_length": 128, "doc_stride": 32}
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # XLM-R's ids 0..3 and its mask token


def real_config() -> DataConfig:
    return DataConfig(source="local", root=REAL)


def loads(task: str, split: str, language: str) -> bool:
    """Whether the local files hold this split (the loaders raise DataNotFoundError otherwise)."""
    try:
        get_task(task).loader(split, language, real_config())
    except DataNotFoundError:
        return False
    return True


# ----------------------------------------------------------------------------- shared fixtures


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: on a 2-core box shared with other jobs, 2 threads ran the tiny model ~30x slower."""
    before, env = torch.get_num_threads(), os.environ.get("XW_THREADS")
    torch.set_num_threads(1)
    os.environ["XW_THREADS"] = "1"  # run_cell sets the thread count from it
    yield
    torch.set_num_threads(before)
    if env is None:
        os.environ.pop("XW_THREADS", None)
    else:
        os.environ["XW_THREADS"] = env


def sample_lines(per_file: int = 60, seed: int = 0) -> list[str]:
    """A few lines (cut to 500 characters) from the head of every data file, all languages."""
    rng = random.Random(seed)
    lines: list[str] = []
    for path in sorted(p for p in REAL.rglob("*") if p.is_file() and p.name not in ("README.md", "MANIFEST.sha256")):
        with path.open(encoding="utf-8", errors="ignore") as handle:
            head = [line[:500] for line in itertools.islice(handle, 2000) if line.strip()]
        lines += rng.sample(head, min(per_file, len(head)))
    return lines


def train_tokenizer(out_dir: Path):
    """WordPiece trained on the real files, with XLM-R's special tokens, pair template and offsets."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="<unk>"))
    # handle_chinese_chars splits CJK text into characters, which has no spaces to split on
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False,
                                                lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=3000, special_tokens=SPECIALS, limit_alphabet=1500)
    tok.train_from_iterator(sample_lines(), trainer)
    assert [tok.token_to_id(t) for t in SPECIALS] == [0, 1, 2, 3, 4]
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=False)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", mask_token="<mask>", cls_token="<s>", sep_token="</s>")
    fast.save_pretrained(out_dir)
    return fast


@pytest.fixture(scope="module")
def tiny_xlmr(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer XLM-R encoder + the trained tokenizer, saved as a `path:` scale."""
    from transformers import XLMRobertaConfig, XLMRobertaModel

    out = tmp_path_factory.mktemp("tiny-real-xlmr")
    tokenizer = train_tokenizer(out)
    torch.manual_seed(0)
    config = XLMRobertaConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=64, max_position_embeddings=QA_TRAINING["max_length"] + 2,
                              pad_token_id=1, bos_token_id=0, eos_token_id=2)
    XLMRobertaModel(config).save_pretrained(out)
    return out


def make_study(tmp_path: Path, name: str, checkpoint: Path, intermediate: list[str], targets: list[str]):
    """A study file with data.source local on the shared folder and the tiny model as its only scale."""
    raw = {
        "study": name,
        "data": {"source": "local", "root": str(REAL)},
        "models": {"family": "xlm-r", "ladder": [{"name": "tiny", "path": str(checkpoint)}]},
        "intermediate_tasks": intermediate,
        "target_tasks": targets,
        "seeds": [0],
        "languages": LANGUAGES,
        "training": {"default": TRAINING, "tasks": {t: QA_TRAINING for t in QA if t in intermediate + targets}},
        "retrieval": {"layer_fraction": 0.5, "max_length": 64},
        "executor": {"kind": "local", "workers": 1},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_study(path, output_root=tmp_path / "outputs")


@pytest.fixture(scope="module")
def target_study(tiny_xlmr, tmp_path_factory):
    return make_study(tmp_path_factory.mktemp("targets"), "real-targets", tiny_xlmr, ["none"], list(TARGETS))


@pytest.fixture(scope="module")
def present_intermediates() -> list[str]:
    return [t for t in INTERMEDIATE if loads(t, "train", "en")]


@pytest.fixture(scope="module")
def intermediate_study(tiny_xlmr, tmp_path_factory, present_intermediates):
    if len(present_intermediates) < 2:
        pytest.skip(f"fewer than two intermediate tasks have local files: {present_intermediates}")
    return make_study(tmp_path_factory.mktemp("intermediate"), "real-intermediate", tiny_xlmr,
                      ["none", *present_intermediates, "multi"], ["xnli"])


def expected_languages(task: str) -> set[str]:
    spec = get_task(task)
    found = {lang for lang in LANGUAGES if lang in spec.languages and loads(task, spec.eval_split_for(lang), lang)}
    return found - {"en"} if spec.kind == "retrieval" else found


def check_rows(frame, task: str) -> None:
    """Tidy rows: every value on the 0-100 scale, one headline number per language evaluated."""
    spec = get_task(task)
    assert len(frame) and set(frame.target_task) == {task}
    assert frame.value.between(0, 100).all(), frame[["language", "metric", "value"]]
    headline = frame[frame.primary]
    assert set(headline.metric) == {spec.primary_metric}
    assert sorted(headline.language) == sorted(set(frame.language)) == sorted(expected_languages(task))
    assert (frame.split == frame.language.map(spec.eval_split_for)).all()
    for value in frame.data_revision:  # the files each row's numbers came from, by content hash (issue 14)
        files = json.loads(value)["files"]
        assert files and all(p.split("/")[0] in ("download", "intermediate") and len(h) == 16 for p, h in files.items())


# ----------------------------------------------------------------------------- cells on real data


def test_retrieval_targets_scored_from_the_baseline_encoder(target_study):
    """bucc2018 and tatoeba are scored straight from the encoder in the 'none' intermediate cell."""
    frame = run_cell(target_study, Cell("intermediate", "tiny", "none", 0), progress=False)
    for task in ("bucc2018", "tatoeba"):
        rows = frame[frame.target_task == task]
        check_rows(rows, task)
    assert len(expected_languages("tatoeba")) >= 2
    bucc = frame[(frame.target_task == "bucc2018") & (frame.metric == "threshold")]
    assert len(bucc) == 1  # the threshold chosen on dev is recorded with the F1
    # the predictions file backs every row: BUCC precision / recall from its mined and gold pairs
    import pandas as pd

    from xw.layout import predictions_path

    predictions = pd.read_parquet(predictions_path(target_study, Cell("intermediate", "tiny", "none", 0)))
    assert set(zip(predictions.target_task, predictions.language, strict=True)) == set(
        zip(frame.target_task, frame.language, strict=True))
    for language, part in predictions[predictions.target_task == "bucc2018"].groupby("language"):
        rows = frame[(frame.target_task == "bucc2018") & (frame.language == language)].set_index("metric").value
        mined, gold = (part.prediction != "").sum(), (part.gold != "").sum()
        assert 100 * part.correct.sum() / max(mined, 1) == pytest.approx(rows["precision"])
        assert 100 * part.correct.sum() / gold == pytest.approx(rows["recall"])


@pytest.mark.parametrize("target", [t for t in TARGETS if get_task(t).kind != "retrieval"])
def test_trained_target_cell(target_study, target):
    """Fine-tune a few steps on English, evaluate zero-shot on every local language of LANGUAGES."""
    frame = run_cell(target_study, Cell("target", "tiny", "none", 0, target), progress=False)
    check_rows(frame, target)
    assert len(set(frame.language)) >= 2
    assert (frame.intermediate_task == "none").all() and (frame.params > 0).all()


@pytest.mark.parametrize("task", INTERMEDIATE)
def test_intermediate_cell_then_a_target_from_its_checkpoint(intermediate_study, present_intermediates, task):
    """Phase (ii) on the real English files, its checkpoint cached, then phase (iii) (XNLI) on top of it."""
    from xw.data import data_config, load_examples
    from xw.evaluate import evaluate_examples
    from xw.featurize import featurize
    from xw.models import build_head_model, load_tokenizer, pick_device
    from xw.tasks import with_label_names
    from xw.train import train

    if task not in present_intermediates:
        pytest.skip(f"{task}: no local training file under {REAL / 'intermediate'} ({get_task(task).data_hint})")
    study = intermediate_study
    assert run_cell(study, Cell("intermediate", "tiny", task, 0), progress=False).empty  # no retrieval target
    path = checkpoints.intermediate_dir(study, study.scale("tiny"), task, 0)
    assert checkpoints.is_complete(path)
    check_rows(run_cell(study, Cell("target", "tiny", task, 0, "xnli"), progress=False), "xnli")

    # the task's own metric on its evaluation split (its training examples where dev is the training data)
    spec = with_label_names(get_task(task), data_config(study))
    config = study.train_config(task)
    split = spec.eval_split if loads(task, spec.eval_split, "en") else spec.train_split
    examples = load_examples(study, spec, split, "en", 16)
    tokenizer = load_tokenizer(path)
    model = build_head_model(path, spec)
    features = featurize(spec, load_examples(study, spec, "train", "en", 32), tokenizer, config.max_length,
                         config.doc_stride)
    train({task: (model, features)}, config, 0, tokenizer.pad_token_id, pick_device(), progress=False)
    result = evaluate_examples(model, tokenizer, spec, examples, "en", config, pick_device())
    assert result and all(0 <= v <= 100 for v in result.values()), result


def test_multi_task_intermediate_mixes_every_local_task(intermediate_study, present_intermediates):
    study = intermediate_study
    run_cell(study, Cell("intermediate", "tiny", "multi", 0), progress=False)
    path = checkpoints.intermediate_dir(study, study.scale("tiny"), "multi", 0)
    marker = json.loads((path / checkpoints.MARKER).read_text())
    assert marker["members"] == present_intermediates
    check_rows(run_cell(study, Cell("target", "tiny", "multi", 0, "xnli"), progress=False), "xnli")


# ----------------------------------------------------------------------------- row counts vs the files


def count_lines(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").split("\n") if line.strip())


def count_blocks(path: Path) -> int:
    """Sentences of a CoNLL-style file: runs of non-blank lines."""
    blocks, inside = 0, False
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.strip() and not line.startswith("-DOCSTART-"):
            blocks += not inside
            inside = True
        else:
            inside = False
    return blocks


def count_questions(path: Path) -> int:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    return sum(len(paragraph["qas"]) for article in data for paragraph in article["paragraphs"])


def count_csv_rows(path: Path) -> int:
    with path.open(encoding="utf-8", newline="") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def n_loaded(task: str, split: str, language: str) -> int:
    data = get_task(task).loader(split, language, real_config())
    return len(data.source_ids) if isinstance(data, RetrievalSet) else len(data)


def _pairs(task: str) -> list[tuple[int, int]]:
    folder = REAL / "download" / task
    out = []
    for path in sorted(folder.glob("dev-*.tsv")):
        language = path.stem.split("-")[1]
        out.append((n_loaded(task, "train", language) + n_loaded(task, "test", language), count_lines(path)))
    if task == "pawsx":
        for path in sorted((folder / "labeled_test").glob("test-*.tsv")):
            out.append((n_loaded(task, "labeled_test", path.stem.split("-")[1]), count_lines(path) - 1))
    return out


def _udpos() -> list[tuple[int, int]]:
    folder = REAL / "download" / "udpos"
    out = [(n_loaded("udpos", p.stem.split("-")[0], p.stem.split("-")[1]), count_blocks(p))
           for p in sorted(folder.glob("*-*.tsv"))]
    for language in sorted({p.name.split("_")[0] for p in folder.glob("conllu/*/*-ud-test.conllu")}):
        if not (folder / f"test-{language}.tsv").is_file():
            files = folder.glob(f"conllu/*/{language}_*-ud-test.conllu")
            out.append((n_loaded("udpos", "test", language), sum(count_blocks(p) for p in files)))
    return out


def _panx() -> list[tuple[int, int]]:
    out = [(n_loaded("panx", p.stem.split("-")[0], p.stem.split("-")[1]), count_blocks(p))
           for p in sorted((REAL / "download" / "panx").glob("*-*.tsv"))]
    out += [(n_loaded("panx", "test", p.name.split("-")[0]), count_blocks(p))
            for p in sorted((REAL / "download" / "panx_dataset").glob("*-test"))]
    return out


def _qa(task: str) -> list[tuple[int, int]]:
    folder = REAL / "download" / task
    squad_train = REAL / "intermediate" / "squad" / "train-v1.1.json"
    if task == "xquad":
        out = [(n_loaded(task, "test", p.name.split(".")[1]), count_questions(p)) for p in folder.glob("xquad.*.json")]
        return out + [(n_loaded(task, "train", "en"), count_questions(squad_train))]
    if task == "mlqa":
        files = sorted(folder.glob("MLQA_V1/dev/dev-context-*-question-*.json"))
        out = [(n_loaded(task, "dev", p.name.split("-")[2]), count_questions(p))
               for p in files if p.name.split("-")[2] == p.name.split("-")[4].split(".")[0]]
        return out + [(n_loaded(task, "train", "en"), count_questions(squad_train))]
    if task == "tydiqa":
        out = [(n_loaded(task, "dev", p.name.split(".")[2]), count_questions(p))
               for p in folder.glob("tydiqa-goldp-v1.1-dev/tydiqa.goldp.*.dev.json")]
        train = folder / "tydiqa-goldp-v1.1-train" / "tydiqa.goldp.en.train.json"
        return out + [(n_loaded(task, "train", "en"), count_questions(train))]
    # squad (intermediate)
    folder = REAL / "intermediate" / "squad"
    return [(n_loaded(task, "train", "en"), count_questions(folder / "train-v1.1.json")),
            (n_loaded(task, "dev", "en"), count_questions(folder / "dev-v1.1.json"))]


def _bucc() -> list[tuple[int, int]]:
    out = []
    for gold in sorted((REAL / "download" / "bucc2018").glob("*-en.dev.gold")):
        language = gold.name.split("-")[0]
        data = get_task("bucc2018").loader("dev", language, real_config())
        stem = gold.parent / f"{language}-en.dev"
        out += [(len(data.source_ids), count_lines(Path(f"{stem}.{language}"))),
                (len(data.target_ids), count_lines(Path(f"{stem}.en"))), (len(data.gold), count_lines(gold))]
    return out


def _tatoeba() -> list[tuple[int, int]]:
    out = []
    for english in sorted((REAL / "download" / "tatoeba").glob("*-en.en")):
        language = english.name.split("-")[0]
        data = get_task("tatoeba").loader("test", language, real_config())
        source = english.with_name(f"{language}-en.{language}")
        out += [(len(data.source_ids), count_lines(source)), (len(data.target_ids), count_lines(english)),
                (len(data.gold), count_lines(source))]
    return out


def _intermediate(task: str) -> list[tuple[int, int]]:
    folder = REAL / "intermediate" / task
    if task == "anli":
        return [(n_loaded(task, "train", "en"), sum(count_csv_rows(p) for p in folder.glob("ANLI_analysis_r*_dev.csv")))]
    if task == "sst2":
        return [(n_loaded(task, split, "en"), count_lines(folder / f"{split}.tsv") - 1) for split in ("train", "dev", "test")]
    if task == "hellaswag":
        return [(n_loaded(task, "train", "en"), count_lines(folder / "hellaswag_val_full.txt") // 6)]
    if task == "cosmosqa":
        return [(n_loaded(task, "train", "en"), count_csv_rows(folder / "valid.csv"))]
    return _qa(task)


COUNTERS = {"xnli": lambda: _pairs("xnli"), "pawsx": lambda: _pairs("pawsx"), "udpos": _udpos, "panx": _panx,
            "xquad": lambda: _qa("xquad"), "mlqa": lambda: _qa("mlqa"), "tydiqa": lambda: _qa("tydiqa"),
            "bucc2018": _bucc, "tatoeba": _tatoeba,
            **{t: (lambda t=t: _intermediate(t)) for t in ("anli", "sst2", "squad", "hellaswag", "cosmosqa")}}


@pytest.mark.parametrize("task", TARGETS + INTERMEDIATE)
def test_loader_row_counts_match_the_files(task):
    if task not in COUNTERS or (task in INTERMEDIATE and not (REAL / "intermediate" / task).is_dir()):
        pytest.skip(f"{task}: no local files in {REAL}")
    pairs = COUNTERS[task]()
    assert pairs and all(n > 0 for n, _ in pairs)
    assert [loaded for loaded, _ in pairs] == [counted for _, counted in pairs]


def test_data_options_in_the_study_file_reach_the_loaders(tmp_path, tiny_checkpoint):
    """data.options.dev_train_fraction (XNLI has no English train file locally: its English dev set is split
    by premise) changes the split a study trains on; before, data_config() dropped the options."""
    from conftest import make_encoder_checkpoint

    from xw.data import data_config, load_examples

    tiny = make_encoder_checkpoint(tmp_path / "tiny")  # a path rung must be a model (checked at load)
    raw = {"study": "options", "data": {"source": "local", "root": str(REAL)},
           "models": {"family": "xlm-r", "ladder": [{"name": "tiny", "path": str(tiny)}]},
           "intermediate_tasks": ["none"], "target_tasks": ["xnli"]}
    sizes = {}
    for fraction in (None, 0.2):
        if fraction is not None:
            raw["data"]["options"] = {"dev_train_fraction": fraction}
        path = tmp_path / "options.yaml"
        path.write_text(yaml.safe_dump(raw))
        study = load_study(path, output_root=tmp_path / "outputs")
        assert data_config(study).options == ({} if fraction is None else {"dev_train_fraction": fraction})
        sizes[fraction] = len(load_examples(study, get_task("xnli"), "train", "en"))
    assert sizes[0.2] == 3 * round(0.2 * 830)  # 830 premises of 3 hypotheses in XNLI's English dev set
    assert sizes[None] == 3 * round(0.5 * 830)  # the default: half
