"""Cold vs warm featurisation through xw.feature_cache on a real task with a real tokenizer.

What it shows: how much of a target cell's set-up the cache saves when the next cell (another seed,
intermediate task or XLM-R size: they share one tokenizer) featurises the same training set. Prints the
cold time (tokenise + write), the warm time (hash the examples and the tokenizer, read), their ratio, and
checks that the warm features equal the cold ones.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from transformers import AutoTokenizer

from xw.feature_cache import cached_featurize
from xw.tasks import DataConfig, get_task

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "xtreme-real"
TOKENIZER = Path.home() / ".cache" / "xw" / "me5-small"  # built by shared/tools/realmodel/build.sh


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="squad", help="a registered task with English training data")
    parser.add_argument("--data-root", type=Path, default=REAL)
    parser.add_argument("--tokenizer", type=Path, default=TOKENIZER)
    parser.add_argument("--limit", type=int, default=4000, help="training examples (0: all)")
    parser.add_argument("--max-length", type=int, default=384)
    parser.add_argument("--doc-stride", type=int, default=128)
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    task = get_task(args.task)
    examples = list(task.loader(task.train_split or "train", "en", DataConfig(source="local", root=args.data_root)))
    examples = examples[:args.limit] if args.limit else examples
    with tempfile.TemporaryDirectory() as cache:
        times, results = [], []
        for _ in ("cold", "warm"):
            tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)  # a fresh object: its identity is re-hashed
            start = time.perf_counter()
            results.append(cached_featurize(Path(cache), task, examples, tokenizer, args.max_length, args.doc_stride))
            times.append(time.perf_counter() - start)
        size = sum(p.stat().st_size for p in Path(cache).rglob("*.pkl"))
    cold, warm = times
    print(f"task {args.task}: {len(examples)} English training examples -> {len(results[0])} features, "
          f"max_length {args.max_length}, stride {args.doc_stride}, tokenizer {args.tokenizer.name}")
    print("| cold (featurise + write) | warm (hash + read) | cold / warm | cache file | warm == cold |")
    print(f"| {cold:.2f} s | {warm:.2f} s | {cold / warm:.1f}x | {size / 2**20:.1f} MiB | {results[0] == results[1]} |")


if __name__ == "__main__":
    main()
