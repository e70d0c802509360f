"""The real XTREME targets and English intermediate tasks of Phang et al. (2020), one TaskSpec each.

Languages are XTREME's full set per task (Hu et al. 2020, google-research/xtreme's scripts);
a language whose file is absent locally raises DataNotFoundError and is skipped by the phases.
Evaluation splits always carry real labels: XTREME's public test files for several tasks do
not (xtreme issue 24), so where only a labelled dev set exists the dev set is evaluated, and
XNLI / PAWS-X without English training data split their dev set by example id.
"""

from __future__ import annotations

from typing import Any

from xw.errors import XWError
from xw.tasks.base import DataConfig, RetrievalSet, TaskSpec, register
from xw.xtreme import hub, local

XNLI_LANGUAGES = ("en", "fr", "es", "de", "el", "bg", "ru", "tr", "ar", "vi", "th", "zh", "hi", "sw", "ur")
PAWSX_LANGUAGES = ("en", "de", "es", "fr", "ja", "ko", "zh")
UDPOS_LANGUAGES = ("af", "ar", "bg", "de", "el", "en", "es", "et", "eu", "fa", "fi", "fr", "he", "hi", "hu", "id",
                   "it", "ja", "kk", "ko", "mr", "nl", "pt", "ru", "ta", "te", "th", "tl", "tr", "ur", "vi", "yo",
                   "zh")
PANX_LANGUAGES = ("ar", "he", "vi", "id", "jv", "ms", "tl", "eu", "ml", "ta", "te", "af", "nl", "en", "de", "el",
                  "bn", "hi", "mr", "ur", "fa", "fr", "it", "pt", "es", "bg", "ru", "ja", "ka", "ko", "th", "sw",
                  "yo", "my", "zh", "kk", "tr", "et", "fi", "hu")
XQUAD_LANGUAGES = ("en", "es", "de", "el", "ru", "tr", "ar", "vi", "th", "zh", "hi")
MLQA_LANGUAGES = ("en", "es", "de", "ar", "hi", "vi", "zh")
TYDIQA_LANGUAGES = ("en", "ar", "bn", "fi", "id", "ko", "ru", "sw", "te")
BUCC_LANGUAGES = ("de", "fr", "ru", "zh")
TATOEBA_LANGUAGES = ("af", "ar", "bg", "bn", "de", "el", "es", "et", "eu", "fa", "fi", "fr", "he", "hi", "hu", "id",
                     "it", "ja", "jv", "ka", "kk", "ko", "ml", "mr", "nl", "pt", "ru", "sw", "ta", "te", "th", "tl",
                     "tr", "ur", "vi", "zh")

_SPECS: dict[str, TaskSpec] = {}


class _Loader:
    """Dispatches one task's loads on ``DataConfig.source``; checks the language first."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, split: str, language: str, config: DataConfig) -> Any:
        spec = _SPECS[self.name]
        if language not in spec.languages:
            raise XWError(f"task {self.name!r} has no language {language!r}; its languages (XTREME's set): "
                          f"{', '.join(spec.languages)}")
        if config.source == "hub":
            return hub.load(self.name, split, language, config)
        if config.source == "local":
            data = local.load(self.name, split, language, config.root, config.options)
            return data if isinstance(data, RetrievalSet) else local.to_dataset(spec.kind, data, spec.pair)
        raise XWError(f"task {self.name!r} reads real data: set data.source to 'local' (with data.root) or 'hub', "
                      f"not {config.source!r}")

    def __repr__(self) -> str:
        return f"xw.xtreme loader for {self.name!r}"


def _task(name: str, **fields: Any) -> TaskSpec:
    fields.setdefault("data_hint", local.HINTS[name])
    spec = TaskSpec(name=name, loader=_Loader(name), **fields)
    _SPECS[name] = spec
    return register(spec)


_DEV_SPLIT_RULE = (
    "Locally, when download/{task}/train-en.tsv is absent (the curated tree), only the labelled dev files exist: "
    "they are split by example id (rows sharing any English sentence stay together, assigned by a stable hash; "
    "option dev_train_fraction, default 0.5) into 'train' = English part A and 'test' = part B of each "
    "language, so no translated copy of a training example is evaluated. With xtreme's full layout, 'train' is "
    "train-en.tsv and 'test' the test files (rejected if their labels are placeholders). "
)

# ----------------------------------------------------------------------------- targets

_task("xnli", kind="classification", family="classification", role="target", languages=XNLI_LANGUAGES,
      metric="accuracy", primary_metric="accuracy", label_names=local.NLI_LABELS, pair=True,
      train_split="train", eval_split="test", dev_split=None,
      description="XNLI natural language inference (premise, hypothesis). " + _DEV_SPLIT_RULE.format(task="xnli")
      + "Hub: 'train' = nyu-mll/glue mnli train (MultiNLI, as XTREME trains), 'dev'/'test' = google/xtreme "
        "XNLI validation/test filtered by language (real test labels).")

_task("pawsx", kind="classification", family="classification", role="target", languages=PAWSX_LANGUAGES,
      metric="accuracy", primary_metric="accuracy", label_names=local.PAWSX_LABELS, pair=True,
      train_split="train", eval_split="test", dev_split=None,
      description="PAWS-X paraphrase identification (sentence1, sentence2). " + _DEV_SPLIT_RULE.format(task="pawsx")
      + "Split 'labeled_test' reads download/pawsx/labeled_test/test-<lg>.tsv (de, zh). Hub: google/xtreme "
        "PAWS-X.<lg> train/validation/test (test labels are real).")

_task("udpos", kind="tagging", family="tagging", role="target", languages=UDPOS_LANGUAGES,
      metric="accuracy", primary_metric="accuracy", label_names=local.UPOS_LABELS,
      train_split="train", eval_split="test", dev_split="dev",
      description="Universal Dependencies POS tagging (17 UPOS tags), token accuracy. Train = English "
                  "train-en.tsv; evaluation = labelled test-<lg>.tsv, or, where absent, every "
                  "conllu/UD_*/<lg>_*-ud-test.conllu treebank (German here: GSD + PUD of newer UD releases; XTREME "
                  "used UD 2.5 incl. HDT). Placeholder-labelled test files are rejected. Hub: google/xtreme "
                  "udpos.<Language> (Kazakh has no dev; Tagalog, Thai, Yoruba test only).")

_task("panx", kind="tagging", family="tagging", role="target", languages=PANX_LANGUAGES,
      metric="seqeval_f1", primary_metric="f1", label_names=local.PANX_LABELS,
      train_split="train", eval_split="test", dev_split="dev",
      description="PAN-X / WikiANN NER (BIO PER/ORG/LOC), entity F1. Train = download/panx/train-en.tsv (the "
                  "curated tree holds its first 5,000 of 20,000 sentences); evaluation = the labelled raw Rahimi "
                  "test panx_dataset/<lg>-test (xtreme's processed test files have no labels). Labelled 'dev' "
                  "exists for more languages locally. Hub: google/xtreme PAN-X.<lg>.")

_task("xquad", kind="qa", family="qa", role="target", languages=XQUAD_LANGUAGES,
      metric="squad", primary_metric="f1", train_split="train", eval_split="test", dev_split=None,
      description="XQuAD extractive QA (1,190 questions per language, answers kept). Train = SQuAD v1.1 train "
                  "(intermediate/squad/ or download/squad/; the curated tree holds a 19,802-question prefix). "
                  "Hub: google/xtreme XQuAD.<lg> 'validation' (its only split) as 'test'; train rajpurkar/squad.")

_task("mlqa", kind="qa", family="qa", role="target", languages=MLQA_LANGUAGES,
      metric="mlqa", primary_metric="f1", train_split="train", eval_split="dev", dev_split=None,
      description="MLQA extractive QA, same-language context/question (XTREME's setting). Evaluated on the "
                  "labelled dev files (MLQA_V1/dev/dev-context-<lg>-question-<lg>.json), the split that exists "
                  "locally; 'test' reads MLQA_V1/test when present. Train = SQuAD v1.1 train. Hub: google/xtreme "
                  "MLQA.<lg>.<lg> validation/test.")

_task("tydiqa", kind="qa", family="qa", role="target", languages=TYDIQA_LANGUAGES,
      metric="squad", primary_metric="f1", train_split="train", eval_split="dev", dev_split=None,
      description="TyDiQA-GoldP. Train = English GoldP train (xtreme's tydiqa.goldp.en.train.json, 3,696 "
                  "questions); evaluation = GoldP dev, which is XTREME's test set (no public GoldP test). Hub: "
                  "google/xtreme 'tydiqa' train/validation filtered by the language-name id prefix.")

_task("bucc2018", kind="retrieval", family="retrieval", role="target", languages=BUCC_LANGUAGES,
      metric="bucc_f1", primary_metric="f1", train_split=None, eval_split="dev", dev_split="dev",
      description="BUCC 2018 parallel-sentence mining (<lg> -> en), F1. xtreme's download script deletes the "
                  "test gold, so the scoreable split is dev (sample-gold): the threshold is chosen on dev and "
                  "scored on dev, an optimistic (oracle-threshold) number; say so in results. Locally only zh-en "
                  "exists. Hub: google/xtreme bucc18.<lg> has the gold pairs only (no distractors), which makes "
                  "it far easier than BUCC; prefer local files.")

_task("tatoeba", kind="retrieval", family="retrieval", role="target", languages=TATOEBA_LANGUAGES,
      metric="tatoeba_accuracy", primary_metric="accuracy", train_split=None, eval_split="test", dev_split=None,
      description="Tatoeba (LASER v1) bitext retrieval <lg> -> en, line-aligned (gold = identity), up to 1,000 "
                  "pairs per language. Files whose English side is sorted (xtreme's script) are rejected. Hub: "
                  "google/xtreme tatoeba.<lg3> 'validation' as 'test'.")

# ----------------------------------------------------------------------------- intermediate tasks

_DEV_AS_TRAIN = ("Locally, when the official train file is absent, the labelled dev/val file is the training "
                 "data (logged) and 'dev' is then not offered. ")

_task("anli", kind="classification", family="classification", role="intermediate", languages=("en",),
      metric="accuracy", primary_metric="accuracy", label_names=local.NLI_LABELS, pair=True,
      train_split="train", eval_split="dev", dev_split="dev",
      description="ANLI+ as in Phang et al.: train = ANLI R1-R3 + MNLI + SNLI, dev/test = ANLI R1-R3. Locally "
                  "the official anli_v1.0 jsonl (plus intermediate/mnli, intermediate/snli if present); the curated "
                  "tree has only the ANLI annotated dev CSVs (3,198 rows), which then are the training data. "
                  "Hub: facebook/anli train_r1-3 + nyu-mll/glue mnli + stanfordnlp/snli.")

_task("mnli", kind="classification", family="classification", role="intermediate", languages=("en",),
      metric="accuracy", primary_metric="accuracy", label_names=local.NLI_LABELS, pair=True,
      train_split="train", eval_split="dev", dev_split="dev",
      description="MultiNLI. Local: GLUE MNLI TSVs (train, dev_matched, dev_mismatched); none in the curated "
                  "tree. Hub: nyu-mll/glue mnli (dev = validation_matched).")

_task("qqp", kind="classification", family="classification", role="intermediate", languages=("en",),
      metric="accuracy", primary_metric="accuracy", label_names=local.QQP_LABELS, pair=True,
      train_split="train", eval_split="dev", dev_split="dev",
      description="Quora Question Pairs. Local: GLUE QQP TSVs (none in the curated tree). Hub: nyu-mll/glue qqp.")

_task("sst2", kind="classification", family="classification", role="intermediate", languages=("en",),
      metric="accuracy", primary_metric="accuracy", label_names=local.SST2_LABELS, pair=False,
      train_split="train", eval_split="dev", dev_split="dev",
      description="SST-2 sentiment. The curated local files are a re-split (GLUE train -> train 60,614 / dev "
                  "6,735; GLUE dev -> test 872). Hub: nyu-mll/glue sst2 (GLUE's test is unlabelled, so 'dev' "
                  "and 'test' are both GLUE validation).")

_task("squad", kind="qa", family="qa", role="intermediate", languages=("en",),
      metric="squad", primary_metric="f1", train_split="train", eval_split="dev", dev_split="dev",
      description="SQuAD v1.1. Local train-v1.1.json / dev-v1.1.json (curated train = 19,802-question prefix; "
                  "its answer_start is the first occurrence of the answer). Hub: rajpurkar/squad.")

_task("squad_v2", kind="qa", family="qa", role="intermediate", languages=("en",),
      metric="squad", primary_metric="f1", train_split="train", eval_split="dev", dev_split="dev",
      description="SQuAD v2.0 with unanswerable questions (empty answer lists). " + _DEV_AS_TRAIN
      + "The curated tree has only dev-v2.0.json. Hub: rajpurkar/squad_v2.")

_task("hellaswag", kind="multiple_choice", family="multiple_choice", role="intermediate", languages=("en",),
      metric="accuracy", primary_metric="accuracy", train_split="train", eval_split="dev", dev_split="dev",
      description="HellaSwag (4 endings); context = '<activity label>: <ctx>'. " + _DEV_AS_TRAIN
      + "The curated tree has only the validation set (10,042, text form). Hub: Rowan/hellaswag.")

_task("commonsenseqa", kind="multiple_choice", family="multiple_choice", role="intermediate", languages=("en",),
      metric="accuracy", primary_metric="accuracy", train_split="train", eval_split="dev", dev_split="dev",
      description="CommonsenseQA (5 choices; context = question stem). " + _DEV_AS_TRAIN
      + "No local files in the curated tree. Hub: tau/commonsense_qa.")

_task("cosmosqa", kind="multiple_choice", family="multiple_choice", role="intermediate", languages=("en",),
      metric="accuracy", primary_metric="accuracy", train_split="train", eval_split="dev", dev_split="dev",
      description="Cosmos QA (4 choices; context = passage, choice = question + answer). " + _DEV_AS_TRAIN
      + "The curated tree has only valid.csv (2,985). Hub: allenai/cosmos_qa.")


def _ccg_label_names(config: DataConfig) -> tuple[str, ...]:
    """CCG's tag set = every category of the local training split (jiant's CCG task); no hub copy exists."""
    if config.source != "local" or config.root is None:
        raise local.missing("ccg", "train", "en", [str(config.root or "(no data.root)")],
                            why="the CCG tag set is read from the local CCGbank training split (data.source local)")
    return local.ccg_label_names(config.root)


_task("ccg", kind="tagging", family="tagging", role="intermediate", languages=("en",),
      metric="accuracy", primary_metric="accuracy", label_names=(), label_names_loader=_ccg_label_names,
      train_split="train", eval_split="dev", dev_split="dev",
      description="CCG supertagging on CCGbank (train 02-21, dev 00, test 23). LDC-licensed: no local or hub "
                  "copy here. The tag inventory is every category of the training split "
                  "(xw.xtreme.local.ccg_label_names, jiant's setup), resolved per study by "
                  "xw.tasks.with_label_names; label_names stays () in the registry.")
