"""The mini-world: a synthetic multilingual world small enough to run the whole study on a CPU.

- :mod:`xw.miniworld.concepts`: the concept inventory, shared named entities and tag sets
- :mod:`xw.miniworld.profiles`: the typological profiles of the six languages
- :mod:`xw.miniworld.lexicon`: each language's drawn stems and suffixes, the WordPiece inventory
- :mod:`xw.miniworld.meanings`: language-independent noun phrases and clauses
- :mod:`xw.miniworld.grammar`: rendering a meaning as annotated words in one language
- :mod:`xw.miniworld.world`: the :class:`World` of one seed (samplers and renderers), ``get_world``
- :mod:`xw.miniworld.corpus`: the multilingual MLM pretraining corpus
- :mod:`xw.miniworld.tokenizer`: the WordPiece tokenizer (XLM-R conventions)
- :mod:`xw.miniworld.tasks`: target and intermediate tasks, registered with :mod:`xw.tasks`
"""

from xw.miniworld.profiles import LANGUAGES, PROFILE
from xw.miniworld.world import World, get_world

__all__ = ["LANGUAGES", "PROFILE", "World", "get_world"]
