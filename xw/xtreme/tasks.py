"""The real XTREME targets and English intermediate tasks of Phang et al. (2020), one definition each.

Why: a real task is declared in one place: its :class:`TaskSpec` fields, its local reader
(:mod:`xw.xtreme.local_targets` / :mod:`xw.xtreme.local_intermediate`), its hub source
(:mod:`xw.xtreme.hub`) and the hint that tells a user how to get its data. Adding a task is one
more :func:`define` call here.

Languages are XTREME's full set per task (:mod:`xw.xtreme.languages`); a language whose file is
absent locally raises DataNotFoundError and is skipped by the phases. Evaluation splits always
carry real labels: XTREME's public test files for several tasks do not (xtreme issue 24), so
where only a labelled dev set exists the dev set is evaluated, and XNLI / PAWS-X without English
training data split their dev set by example id.
"""

from __future__ import annotations

from typing import Any

from xw.errors import XWError
from xw.tasks.base import DataConfig, RetrievalSet, TaskSpec, register
from xw.tasks.labels import NLI_LABELS
from xw.xtreme import hub, local_intermediate, local_targets
from xw.xtreme.canonical import PANX_LABELS, PAWSX_LABELS, QQP_LABELS, SST2_LABELS, UPOS_LABELS
from xw.xtreme.files import XTREME_SCRIPT, LocalReader, missing, read_local
from xw.xtreme.hub import HubPart, HubSource
from xw.xtreme.languages import (
    BUCC_LANGUAGES,
    MLQA_LANGUAGES,
    PANX_LANGUAGES,
    PAWSX_LANGUAGES,
    TATOEBA_LANGUAGES,
    TYDIQA_LANGUAGES,
    UDPOS_LANGUAGES,
    XNLI_LANGUAGES,
    XQUAD_LANGUAGES,
)


class RealDataLoader:
    """The loader of one real task: checks the language, then reads its local files or its hub source."""

    def __init__(self, name: str, local: LocalReader, hub_source: HubSource) -> None:
        self.name = name
        self.local = local
        self.hub_source = hub_source
        self.spec: TaskSpec | None = None  # bound by define(): the loader needs the task's languages and kind

    def __call__(self, split: str, language: str, config: DataConfig) -> Any:
        spec = self.spec
        if spec is None:
            raise XWError(f"the loader of {self.name!r} was called before xw.xtreme.tasks.define() bound its spec")
        if language not in spec.languages:
            raise XWError(f"task {self.name!r} has no language {language!r}; its languages (XTREME's set): "
                          f"{', '.join(spec.languages)}")
        if config.source == "hub":
            return hub.load(self.name, self.hub_source, split, language, config)
        if config.source == "local":
            data = read_local(self.name, self.local, split, language, config.root, config.options)
            return data if isinstance(data, RetrievalSet) else spec.task_kind.to_dataset(data, spec.pair)
        raise XWError(f"task {self.name!r} reads real data: set data.source to 'local' (with data.root) or 'hub', "
                      f"not {config.source!r}")

    def hub_parts(self, split: str, language: str) -> list[HubPart]:
        """The hub calls behind one split/language (no network)."""
        return self.hub_source(split, language)

    def __repr__(self) -> str:
        return f"xw.xtreme loader for {self.name!r}"


def define(name: str, *, local: LocalReader, hub: HubSource, hint: str, **fields: Any) -> TaskSpec:
    """Register one real task: its spec fields, local reader, hub source and data hint, all in one call."""
    loader = RealDataLoader(name, local, hub)
    spec = TaskSpec(name=name, loader=loader, data_hint=hint, **fields)
    loader.spec = spec
    return register(spec)


_DEV_SPLIT_RULE = (
    "Locally, when download/{task}/train-en.tsv is absent (the curated tree), only the labelled dev files exist: "
    "they are split by example id (rows sharing any English sentence stay together, assigned by a stable hash; "
    "option dev_train_fraction, default 0.5) into 'train' = English part A and 'test' = part B of each "
    "language, so no translated copy of a training example is evaluated. With xtreme's full layout, 'train' is "
    "train-en.tsv and 'test' the test files (rejected if their labels are placeholders). "
)

# ----------------------------------------------------------------------------- targets

define("xnli", local=local_targets.load_xnli, hub=hub.xnli,
       hint=f"run {XTREME_SCRIPT} (writes download/xnli/), or set data.source: hub (google/xtreme 'XNLI')",
       kind="classification", family="classification", role="target", languages=XNLI_LANGUAGES,
       metric="accuracy", primary_metric="accuracy", label_names=NLI_LABELS, pair=True,
       train_split="train", eval_split="test", dev_split=None,
       description="XNLI natural language inference (premise, hypothesis). " + _DEV_SPLIT_RULE.format(task="xnli")
       + "Hub: 'train' = nyu-mll/glue mnli train (MultiNLI, as XTREME trains), 'dev'/'test' = google/xtreme "
         "XNLI validation/test filtered by language (real test labels).")

define("pawsx", local=local_targets.load_pawsx, hub=hub.pawsx,
       hint=f"run {XTREME_SCRIPT} (writes download/pawsx/), or set data.source: hub (google/xtreme 'PAWS-X.<lg>')",
       kind="classification", family="classification", role="target", languages=PAWSX_LANGUAGES,
       metric="accuracy", primary_metric="accuracy", label_names=PAWSX_LABELS, pair=True,
       train_split="train", eval_split="test", dev_split=None,
       description="PAWS-X paraphrase identification (sentence1, sentence2). " + _DEV_SPLIT_RULE.format(task="pawsx")
       + "Split 'labeled_test' reads download/pawsx/labeled_test/test-<lg>.tsv (de, zh). Hub: google/xtreme "
         "PAWS-X.<lg> train/validation/test (test labels are real).")

define("udpos", local=local_targets.load_udpos, hub=hub.udpos,
       hint=f"run {XTREME_SCRIPT} (writes download/udpos/; UD CoNLL-U files also work under "
            "download/udpos/conllu/UD_*/), or set data.source: hub (google/xtreme 'udpos.<Language>')",
       kind="tagging", family="tagging", role="target", languages=UDPOS_LANGUAGES,
       metric="udpos_f1", primary_metric="f1", label_names=UPOS_LABELS,
       train_split="train", eval_split="test", dev_split="dev",
       description="Universal Dependencies POS tagging (17 UPOS tags), XTREME's seqeval F1 (0.0.12 reading of "
                   "bare tags, xw.span_f1) as primary, token accuracy as a second row. Train = English "
                   "train-en.tsv; evaluation = labelled test-<lg>.tsv, or, where absent, every "
                   "conllu/UD_*/<lg>_*-ud-test.conllu treebank (German here: GSD + PUD of newer UD releases; XTREME "
                   "used UD 2.5 incl. HDT). Placeholder-labelled test files are rejected. Hub: google/xtreme "
                   "udpos.<Language> (Kazakh has no dev; Tagalog, Thai, Yoruba test only).")

define("panx", local=local_targets.load_panx, hub=hub.panx,
       hint=f"download AmazonPhotos.zip as {XTREME_SCRIPT} explains (writes download/panx/ and the raw "
            "download/panx_dataset/<lg>-{train,dev,test}), or set data.source: hub (google/xtreme 'PAN-X.<lg>')",
       kind="tagging", family="tagging", role="target", languages=PANX_LANGUAGES,
       metric="seqeval_f1", primary_metric="f1", label_names=PANX_LABELS,
       train_split="train", eval_split="test", dev_split="dev",
       description="PAN-X / WikiANN NER (BIO PER/ORG/LOC), entity F1. Train = download/panx/train-en.tsv (the "
                   "curated tree holds its first 5,000 of 20,000 sentences); evaluation = the labelled raw Rahimi "
                   "test panx_dataset/<lg>-test (xtreme's processed test files have no labels). Labelled 'dev' "
                   "exists for more languages locally. Hub: google/xtreme PAN-X.<lg>.")

define("xquad", local=local_targets.load_xquad, hub=hub.xquad,
       hint=f"run {XTREME_SCRIPT} or fetch deepmind/xquad's xquad.<lg>.json into download/xquad/ (the files "
            "must keep their answers), or set data.source: hub (google/xtreme 'XQuAD.<lg>')",
       kind="qa", family="qa", role="target", languages=XQUAD_LANGUAGES,
       metric="squad", primary_metric="f1", train_split="train", eval_split="test", dev_split=None,
       description="XQuAD extractive QA (1,190 questions per language, answers kept). Train = SQuAD v1.1 train "
                   "(intermediate/squad/ or download/squad/; the curated tree holds a 19,802-question prefix). "
                   "Hub: google/xtreme XQuAD.<lg> 'validation' (its only split) as 'test'; train rajpurkar/squad.")

define("mlqa", local=local_targets.load_mlqa, hub=hub.mlqa,
       hint=f"run {XTREME_SCRIPT} (MLQA_V1.zip unpacked into download/mlqa/MLQA_V1/), or set data.source: hub "
            "(google/xtreme 'MLQA.<lg>.<lg>')",
       kind="qa", family="qa", role="target", languages=MLQA_LANGUAGES,
       metric="mlqa", metric_needs_language=True, primary_metric="f1",
       train_split="train", eval_split="dev", dev_split=None, eval_split_by_source={"hub": "test"},
       description="MLQA extractive QA, same-language context/question (XTREME's setting). XTREME reports the "
                   "test split: with data.source hub xw evaluates google/xtreme MLQA.<lg>.<lg> test; locally "
                   "it evaluates the labelled dev files (MLQA_V1/dev/dev-context-<lg>-question-<lg>.json), the "
                   "split that exists in the curated tree; the row's split column says which. 'test' reads "
                   "MLQA_V1/test when present. Train = SQuAD v1.1 train.")

define("tydiqa", local=local_targets.load_tydiqa, hub=hub.tydiqa,
       hint=f"run {XTREME_SCRIPT} (writes download/tydiqa/), or set data.source: hub (google/xtreme 'tydiqa')",
       kind="qa", family="qa", role="target", languages=TYDIQA_LANGUAGES,
       metric="squad", primary_metric="f1", train_split="train", eval_split="dev", dev_split=None,
       description="TyDiQA-GoldP. Train = English GoldP train (xtreme's tydiqa.goldp.en.train.json, 3,696 "
                   "questions); evaluation = GoldP dev, which is XTREME's test set (no public GoldP test). Hub: "
                   "google/xtreme 'tydiqa' train/validation filtered by the language-name id prefix.")

define("bucc2018", local=local_targets.load_bucc2018, hub=hub.bucc2018,
       hint=f"run {XTREME_SCRIPT} (writes download/bucc2018/<lg>-en.<split>.*; it deletes the test gold, so "
            "only dev is scoreable), or set data.source: hub (google/xtreme 'bucc18.<lg>', gold pairs only)",
       kind="retrieval", family="retrieval", role="target", languages=BUCC_LANGUAGES,
       metric="bucc_f1", primary_metric="f1", train_split=None, eval_split="dev", dev_split="dev",
       description="BUCC 2018 parallel-sentence mining (<lg> -> en), F1. xtreme's download script deletes the "
                   "test gold, so the scoreable split is dev (sample-gold): the threshold is chosen on dev and "
                   "scored on dev, an optimistic (oracle-threshold) number; say so in results. Locally only zh-en "
                   "exists. Hub: google/xtreme bucc18.<lg> has the gold pairs only (no distractors), which makes "
                   "it far easier than BUCC; prefer local files.")

define("tatoeba", local=local_targets.load_tatoeba, hub=hub.tatoeba,
       hint="fetch facebookresearch/LASER data/tatoeba/v1/tatoeba.<lg3>-eng.{<lg3>,eng} into download/tatoeba/ "
            "(the xtreme script sorts the English side and hides the gold), or set data.source: hub "
            "(google/xtreme 'tatoeba.<lg3>')",
       kind="retrieval", family="retrieval", role="target", languages=TATOEBA_LANGUAGES,
       metric="tatoeba_accuracy", primary_metric="accuracy", train_split=None, eval_split="test", dev_split=None,
       retrieval_query="target",
       description="Tatoeba (LASER v1) bitext retrieval, line-aligned; primary accuracy = XTREME's direction "
                   "(index the <lg> side, query with English: row accuracy_from_en), <lg> -> en as accuracy_to_en, (gold = identity), up to 1,000 "
                   "pairs per language. Files whose English side is sorted (xtreme's script) are rejected. Hub: "
                   "google/xtreme tatoeba.<lg3> 'validation' as 'test'.")

# ----------------------------------------------------------------------------- intermediate tasks

_DEV_AS_TRAIN = ("Locally, when the official train file is absent, the labelled dev/val file is the training "
                 "data (logged) and 'dev' is then not offered. ")

define("anli", local=local_intermediate.load_anli, hub=hub.anli,
       hint="put facebookresearch/anli's anli_v1.0/R{1,2,3}/{train,dev,test}.jsonl under intermediate/anli/ "
            "(optionally GLUE MNLI in intermediate/mnli/ and SNLI 1.0 jsonl in intermediate/snli/ to make ANLI+), "
            "or set data.source: hub (facebook/anli + nyu-mll/glue mnli + stanfordnlp/snli)",
       kind="classification", family="classification", role="intermediate", languages=("en",),
       metric="accuracy", primary_metric="accuracy", label_names=NLI_LABELS, pair=True,
       train_split="train", eval_split="dev", dev_split="dev",
       description="ANLI+ as in Phang et al.: train = ANLI R1-R3 + MNLI + SNLI, dev/test = ANLI R1-R3. Locally "
                   "the official anli_v1.0 jsonl (plus intermediate/mnli, intermediate/snli if present); the curated "
                   "tree has only the ANLI annotated dev CSVs (3,198 rows), which then are the training data. "
                   "Hub: facebook/anli train_r1-3 + nyu-mll/glue mnli + stanfordnlp/snli.")

define("mnli", local=local_intermediate.load_mnli, hub=hub.mnli,
       hint="put GLUE's MNLI train.tsv / dev_matched.tsv / dev_mismatched.tsv under intermediate/mnli/, "
            "or set data.source: hub (nyu-mll/glue 'mnli')",
       kind="classification", family="classification", role="intermediate", languages=("en",),
       metric="accuracy", primary_metric="accuracy", label_names=NLI_LABELS, pair=True,
       train_split="train", eval_split="dev", dev_split="dev",
       description="MultiNLI. Local: GLUE MNLI TSVs (train, dev_matched, dev_mismatched); none in the curated "
                   "tree. Hub: nyu-mll/glue mnli (dev = validation_matched).")

define("qqp", local=local_intermediate.load_qqp, hub=hub.qqp,
       hint="put GLUE's QQP train.tsv / dev.tsv under intermediate/qqp/, or set data.source: hub (nyu-mll/glue 'qqp')",
       kind="classification", family="classification", role="intermediate", languages=("en",),
       metric="accuracy", primary_metric="accuracy", label_names=QQP_LABELS, pair=True,
       train_split="train", eval_split="dev", dev_split="dev",
       description="Quora Question Pairs. Local: GLUE QQP TSVs (none in the curated tree). Hub: nyu-mll/glue qqp.")

define("sst2", local=local_intermediate.load_sst2, hub=hub.sst2,
       hint="put GLUE's SST-2 train.tsv / dev.tsv under intermediate/sst2/, or set data.source: hub "
            "(nyu-mll/glue 'sst2')",
       kind="classification", family="classification", role="intermediate", languages=("en",),
       metric="accuracy", primary_metric="accuracy", label_names=SST2_LABELS, pair=False,
       train_split="train", eval_split="dev", dev_split="dev",
       description="SST-2 sentiment. The curated local files are a re-split (GLUE train -> train 60,614 / dev "
                   "6,735; GLUE dev -> test 872). Hub: nyu-mll/glue sst2 (GLUE's test is unlabelled, so 'dev' "
                   "and 'test' are both GLUE validation).")

define("squad", local=local_intermediate.load_squad, hub=hub.squad,
       hint="put SQuAD v1.1 train-v1.1.json / dev-v1.1.json (rajpurkar/SQuAD-explorer) under intermediate/squad/ "
            f"or download/squad/ ({XTREME_SCRIPT} fetches them), or set data.source: hub (rajpurkar/squad)",
       kind="qa", family="qa", role="intermediate", languages=("en",),
       metric="squad", primary_metric="f1", train_split="train", eval_split="dev", dev_split="dev",
       description="SQuAD v1.1. Local train-v1.1.json / dev-v1.1.json (curated train = 19,802-question prefix; "
                   "its answer_start is the first occurrence of the answer). Hub: rajpurkar/squad.")

define("squad_v2", local=local_intermediate.load_squad_v2, hub=hub.squad_v2,
       hint="put SQuAD v2.0 train-v2.0.json / dev-v2.0.json under intermediate/squad/, or set data.source: hub "
            "(rajpurkar/squad_v2)",
       kind="qa", family="qa", role="intermediate", languages=("en",),
       metric="squad", primary_metric="f1", train_split="train", eval_split="dev", dev_split="dev",
       description="SQuAD v2.0 with unanswerable questions (empty answer lists). " + _DEV_AS_TRAIN
       + "The curated tree has only dev-v2.0.json. Hub: rajpurkar/squad_v2.")

define("hellaswag", local=local_intermediate.load_hellaswag, hub=hub.hellaswag,
       hint="put rowanz/hellaswag's data/hellaswag_{train,val}.jsonl under intermediate/hellaswag/, "
            "or set data.source: hub (Rowan/hellaswag)",
       kind="multiple_choice", family="multiple_choice", role="intermediate", languages=("en",),
       metric="accuracy", primary_metric="accuracy", train_split="train", eval_split="dev", dev_split="dev",
       description="HellaSwag (4 endings); context = '<activity label>: <ctx>'. " + _DEV_AS_TRAIN
       + "The curated tree has only the validation set (10,042, text form). Hub: Rowan/hellaswag.")

define("commonsenseqa", local=local_intermediate.load_commonsenseqa, hub=hub.commonsenseqa,
       hint="put CommonsenseQA's train_rand_split.jsonl / dev_rand_split.jsonl under "
            "intermediate/commonsenseqa/, or set data.source: hub (tau/commonsense_qa)",
       kind="multiple_choice", family="multiple_choice", role="intermediate", languages=("en",),
       metric="accuracy", primary_metric="accuracy", train_split="train", eval_split="dev", dev_split="dev",
       description="CommonsenseQA (5 choices; context = question stem). " + _DEV_AS_TRAIN
       + "No local files in the curated tree. Hub: tau/commonsense_qa.")

define("cosmosqa", local=local_intermediate.load_cosmosqa, hub=hub.cosmosqa,
       hint="put Cosmos QA's train.csv / valid.csv (wilburOne/cosmosqa data/) under intermediate/cosmosqa/, "
            "or set data.source: hub (allenai/cosmos_qa)",
       kind="multiple_choice", family="multiple_choice", role="intermediate", languages=("en",),
       metric="accuracy", primary_metric="accuracy", train_split="train", eval_split="dev", dev_split="dev",
       description="Cosmos QA (4 choices; context = passage, choice = question + answer). " + _DEV_AS_TRAIN
       + "The curated tree has only valid.csv (2,985). Hub: allenai/cosmos_qa.")


def _ccg_label_names(config: DataConfig) -> tuple[str, ...]:
    """CCG's tag set = every category of the local training split (jiant's CCG task); no hub copy exists."""
    if config.source != "local" or config.root is None:
        raise missing("ccg", "train", "en", [str(config.root or "(no data.root)")],
                      why="the CCG tag set is read from the local CCGbank training split (data.source local)")
    return local_intermediate.ccg_label_names(config.root)


define("ccg", local=local_intermediate.load_ccg, hub=hub.ccg,
       hint="CCGbank is licensed by the LDC (LDC2005T13) and has no public hub copy: unpack it so that "
            "intermediate/ccg/ccgbank_1_1/data/AUTO/<section>/*.auto exists (train 02-21, dev 00, test 23), "
            "or put jiant-style intermediate/ccg/{train,dev,test}.tsv (`tokens<TAB>tags`, space-separated)",
       kind="tagging", family="tagging", role="intermediate", languages=("en",),
       metric="accuracy", primary_metric="accuracy", label_names=(), label_names_loader=_ccg_label_names,
       train_split="train", eval_split="dev", dev_split="dev",
       description="CCG supertagging on CCGbank (train 02-21, dev 00, test 23). LDC-licensed: no local or hub "
                   "copy here. The tag inventory is every category of the training split "
                   "(xw.xtreme.local_intermediate.ccg_label_names, jiant's setup), resolved per study by "
                   "xw.tasks.with_label_names; label_names stays () in the registry.")
