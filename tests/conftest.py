"""Shared fixtures: tiny tokenizers and models built from config (no hub, no downloads)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "xtreme-real"
WORDS = ("the a cat dog sees runs big small red blue paris london alice bob is in what who where "
         "yes no house tree likes eats . ? , one two three").split()
PIECES = ["##s", "##ed", "##ing", "##ka", "##ta"]


def make_tokenizer(out_dir: Path):
    """A WordPiece tokenizer over WORDS (+ suffix pieces) with XLM-R special tokens and offsets."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    from xw.miniworld.tokenizer import xlmr_fast_tokenizer

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    vocab = {tok: i for i, tok in enumerate(specials + WORDS + PIECES)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="<unk>", continuing_subword_prefix="##"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    fast = xlmr_fast_tokenizer(tok)
    fast.save_pretrained(out_dir)
    return fast


AGENT_REPORT = 'Traceback (most recent call last):\n  File "<frozen runpy>"'  # torchrun's own failure report


def finish_jobs(process, job_paths: list[Path], should_finish: bool = True, timeout_s: float = 600) -> str:
    """Wait for an ``xw.distributed`` run and check its jobs by their completion markers, as xw.launch does.

    A job finished when its trainer wrote ``done.json`` (torchrun's exit code alone can be non-zero when a
    rank aborts at teardown after the work is written); a run meant to be killed leaves no marker and a
    non-zero exit code. On failure the message ends with the ranks' own output (torchrun's report, which
    only names the signal, comes first), so a truncated CI log still shows why a rank died."""
    import json

    output, _ = process.communicate(timeout=timeout_s)
    done = {str(path): (Path(json.loads(Path(path).read_text())["out_dir"]) / "done.json").is_file()
            for path in job_paths}
    cut = output.rfind(AGENT_REPORT)
    report, ranks = (output[cut:], output[:cut]) if cut >= 0 else ("", output)
    explain = f"exit code {process.returncode}, completion markers {done}\n{report[-2500:]}\n" \
              f"--- the ranks' output before torchrun's report ---\n{ranks[-6000:]}"
    if should_finish:
        assert all(done.values()), explain
        if process.returncode:
            print(f"note: every job finished, yet the run exited with {process.returncode} (a rank's teardown)")
    else:
        assert process.returncode != 0 and not any(done.values()), explain
    return output


def make_encoder_checkpoint(out_dir: Path, layers: int = 2, hidden: int = 32, seed: int = 0) -> Path:
    """A randomly initialised tiny XLM-R encoder + tokenizer saved like any phase checkpoint."""
    from transformers import XLMRobertaConfig, XLMRobertaModel

    tokenizer = make_tokenizer(out_dir)
    torch.manual_seed(seed)
    config = XLMRobertaConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
                              num_attention_heads=2, intermediate_size=2 * hidden, max_position_embeddings=130,
                              pad_token_id=tokenizer.pad_token_id, bos_token_id=0, eos_token_id=2)
    XLMRobertaModel(config).save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return make_encoder_checkpoint(tmp_path_factory.mktemp("tiny-xlmr"))


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_checkpoint):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_checkpoint)


def two_scale_mini_study(tmp_path: Path):
    """A mini-world study of two scales (small 1x16, big 2x32), two seeds, nothing pretrained under tmp_path:
    what the scheduler's ordering tests run on."""
    from xw.study import study_from_dict

    raw = {"study": "order", "data": {"source": "miniworld"},
           "models": {"family": "mini-xlmr", "ladder": [
               {"name": "small", "layers": 1, "hidden": 16, "heads": 2},
               {"name": "big", "layers": 2, "hidden": 32, "heads": 2}]},
           "intermediate_tasks": ["mini-entail", "none"], "target_tasks": ["mini-pos"], "seeds": [0, 1]}
    return study_from_dict(raw, tmp_path / "order.yaml", tmp_path / "outputs")
