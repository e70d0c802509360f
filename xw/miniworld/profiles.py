"""The typological profiles of the mini-world's six languages.

Why: the controlled differences between languages (order, adposition and adjective placement,
articles, case, agreement, wh-movement, shared lexicon) are fixed by design, not drawn from the
seed, so a per-language result can be read against a known profile.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LanguageProfile:
    """The controlled typological differences of one language (fixed; the seed only draws words)."""

    code: str
    name: str
    script: str
    order: str  # dominant order: "SVO" | "SOV" | "VSO"
    adjective_after_noun: bool
    postpositions: bool
    articles: str  # "pre" (word before the noun) | "none" | "suffix" (definite suffix, indefinite word)
    case_marking: bool  # accusative suffix on objects
    verb_agreement: str  # "sg": suffix with singular subjects (en), "pl": with plural subjects, "": none
    wh_in_situ: bool  # question word stays in place, sentence-final particle
    shared_lexicon: float  # fraction of content stems identical to English (cognates)
    description: str
    free_order: float = 0.0  # share of clauses in SVO instead (case-marking languages order freely)


PROFILES: tuple[LanguageProfile, ...] = (
    LanguageProfile("en", "English-like", "latin", "SVO", False, False, "pre", False, "sg", False, 1.0,
                    "SVO, prepositions, articles, plural -s, 3sg -s, do-support in wh-questions, preverbal not"),
    LanguageProfile("xl", "Latin cousin", "latin", "SVO", True, False, "pre", False, "pl", False, 0.4,
                    "same script and order, 40% shared content words, adjectives after nouns"),
    LanguageProfile("xg", "Greek-script SVO", "greek", "SVO", False, False, "pre", True, "", False, 0.2,
                    "own script, same order, accusative suffix, 20% loanwords"),
    LanguageProfile("xc", "Cyrillic-script SOV", "cyrillic", "SOV", False, True, "none", True, "pl", False, 0.2,
                    "own script, SOV (40% SVO), postpositions, no articles, case and agreement suffixes, "
                    "20% loanwords", free_order=0.4),
    LanguageProfile("xk", "Georgian-script VSO", "georgian", "VSO", True, False, "none", True, "pl", False, 0.2,
                    "own script, VSO (40% SVO), adjectives after nouns, case and agreement suffixes, "
                    "20% loanwords", free_order=0.4),
    LanguageProfile("xh", "Armenian-script SOV", "armenian", "SOV", False, True, "suffix", True, "", True, 0.2,
                    "own script, SOV (25% SVO), postpositions, definite suffix, wh-in-situ with a question "
                    "particle, 20% loanwords", free_order=0.25),
)  # fmt: skip
LANGUAGES: tuple[str, ...] = tuple(p.code for p in PROFILES)
PROFILE: dict[str, LanguageProfile] = {p.code: p for p in PROFILES}
