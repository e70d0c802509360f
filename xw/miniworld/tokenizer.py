"""The mini-world tokenizer: WordPiece over the world's known stems and suffixes, XLM-R conventions.

Why: a fixed vocabulary built from the world (instead of a trained one) makes morphology visible
(suffixes are ``##`` sub-tokens), gives each language its own id range, and keeps the vocabulary
small (about 1k tokens) so embeddings do not dominate small models. Special tokens and the pair
template (``<s> A </s></s> B </s>``) follow XLM-R, so the models are plain ``XLMRobertaForMaskedLM``.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from xw.miniworld.world import World

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")  # ids 0..4, XLM-R order for the first four


def build_vocab(world: World) -> dict[str, int]:
    """Token -> id: special tokens, then each language's stems and suffixes, shared tokens, characters."""
    initial, cont = world.token_inventory()
    vocab: dict[str, int] = {}
    for token in (*SPECIAL_TOKENS, *initial, *(f"##{c}" for c in cont)):
        vocab.setdefault(token, len(vocab))
    return vocab


def xlmr_fast_tokenizer(tok: Tokenizer, **kwargs) -> PreTrainedTokenizerFast:
    """Wrap a ``tokenizers.Tokenizer`` with XLM-R's special tokens and pair template.

    Why: xw's featurisation expects ``<s> A </s></s> B </s>`` pairs and character offsets
    (``trim_offsets=False``) whatever vocabulary a tokenizer has; the mini-world, the tests and the
    benchmark all build their tokenizers through this one function.
    """
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")), trim_offsets=False, add_prefix_space=False
    )
    specials = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
                "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"}  # fmt: skip
    return PreTrainedTokenizerFast(tokenizer_object=tok, **specials, **kwargs)


def build_tokenizer(world: World, out_dir: Path | str, *, model_max_length: int = 512) -> PreTrainedTokenizerFast:
    """Build the tokenizer for ``world`` and save it with ``save_pretrained`` to ``out_dir``.

    ``AutoTokenizer.from_pretrained(out_dir)`` loads it back; it is a fast tokenizer, so offset
    mappings and ``word_ids`` work (QA and tagging featurisation rely on them).
    """
    tok = Tokenizer(models.WordPiece(build_vocab(world), unk_token="<unk>", max_input_chars_per_word=100))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    fast = xlmr_fast_tokenizer(tok, model_max_length=model_max_length, model_input_names=["input_ids", "attention_mask"])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out)
    return fast
