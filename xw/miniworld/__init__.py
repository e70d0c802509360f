"""The mini-world: a synthetic multilingual world small enough to run the whole study on a CPU.

- :mod:`xw.miniworld.world`: languages, grammar, lexicons, meanings and their renderings
- :mod:`xw.miniworld.corpus`: the multilingual MLM pretraining corpus
- :mod:`xw.miniworld.tokenizer`: the WordPiece tokenizer (XLM-R conventions)
- :mod:`xw.miniworld.tasks`: target and intermediate tasks, registered with :mod:`xw.tasks`
"""

from xw.miniworld.world import LANGUAGES, PROFILE, World, get_world

__all__ = ["LANGUAGES", "PROFILE", "World", "get_world"]
