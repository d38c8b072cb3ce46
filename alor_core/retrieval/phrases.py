"""Exact phrase rules shared by every caption-matching backend (docs/METHOD.md §4.2, §4.7 mode A).

The reference definition is the Python regex of :func:`~alor_core.retrieval.caption_match.synonym_pattern`:
a synonym ``w1 … wn`` (split on whitespace) matches a caption where ``w1\\s+w2…\\s+wn`` occurs
case-insensitively (``re.IGNORECASE``) with no word character or hyphen right before or after it.
"Word character" is Python's Unicode ``\\w`` plus ``-``, so "shirt" does not match "t-shirt".

SQL engines cannot run that regex fast, so this module restates it as tokens that a hash join
can match, and the backends (DuckDB, Spark) evaluate exactly this form:

* **Fold.** Every character is mapped to a representative of its ``re.IGNORECASE`` class, built
  from the same tables ``re`` uses (``_sre.unicode_tolower`` plus ``re._casefix``), so two
  characters fold equal exactly when the regex treats them as equal. On ASCII the fold is plain
  lower-casing. The one class that mixes word and non-word characters (U+0345 with the Greek
  iotas) keeps two representatives, one per kind, and a synonym containing it is expanded into
  variants so word boundaries stay where the regex puts them.
* **Tokens.** A folded caption is cut into maximal word runs and single other non-space
  characters; a token carries one leading space when whitespace precedes it. A synonym matches
  where its token sequence occurs contiguously (its first token may or may not follow a space).
  A word run in a caption is maximal, so a synonym starting and ending with word runs gets the
  regex's boundaries for free; a synonym starting (ending) with punctuation also needs the
  neighbouring token not to be an adjacent word run (``.net`` does not match ``asp.net``).
* **Anchors.** Each synonym has an anchor, one of its word runs (the rarest in a sample of the
  captions when the backend samples, else the longest). A caption can only match if one
  of its maximal word runs equals the anchor, which is what the backends join on first; a
  one-token synonym is then already matched exactly, longer ones are checked token by token.
* **Which synonym.** When several synonyms of a class occur in a caption, the one recorded is
  the first in :func:`class_synonyms_ordered` (longest first, then alphabetical), in every backend.

**Match rules.** Everything above is rule ``alor`` (the default). Rule ``swat`` (SWAT's SQLite
FTS5 index, docs/METHOD.md §4.2, used by ``--protocol paper``) first rewrites both the caption
and every synonym with :func:`normalize_text`: straight and typographic quotes are deleted, ``-``,
``_`` and every other character that is neither a word character nor whitespace become a space.
What is left is words separated by spaces, and the token rules above then match a synonym as
a contiguous run of whole words, which is FTS5's phrase query ("golden, retriever" and
"golden "retriever"" match "golden retriever"; "shirt" matches "t-shirt"; "bewick's wren" and
"bewicks wren" are one synonym). Synonyms that become equal after normalisation are one
synonym; the recorded synonym is the normalised one. The SQL backends apply the same rewrite
with :func:`normalize_regexes`. (FTS5's ``unicode61`` tokenizer also strips diacritics; neither
rule does.) The rule also decides the cross-class policy of RDA, see :func:`cross_class_policy`.

SQL engines get the character classes as explicit code-point ranges taken from Python's own
``\\w`` and ``\\s``, and the fold as translate tables (:func:`fold_tables`). A backend that
uses the engine's faster ``lower()`` checks it on every code point first (:func:`probe_text`) and
routes captions holding a character it folds differently to the exact translate path, so the
Unicode version of the engine does not matter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import functools
import re
import sys
import unicodedata
from dataclasses import dataclass

import _sre
from re._casefix import _EXTRA_CASES

from ..errors import DataError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any

__all__ = [
    "MATCH_RULES",
    "check_match_rule",
    "cross_class_policy",
    "normalize_text",
    "normalize_synonyms",
    "normalize_regexes",
    "Phrase",
    "fold",
    "fold_loose",
    "caption_tokens",
    "class_synonyms_ordered",
    "compile_phrases",
    "word_runs",
    "phrase_matches",
    "word_class",
    "space_class",
    "char_class",
    "fold_tables",
    "probe_text",
    "fold_mismatches",
    "MAX_VARIANTS",
    "tables_version",
    "cached_json",
]

_RULES_VERSION = 1  # bump when the tables below change meaning
MAX_VARIANTS = 64  # synonym spellings from the U+0345 class; more than 6 such letters is refused
_WORD = re.compile(r"[\w-]")
_SPACE = re.compile(r"\s")
_WS_RUN = re.compile(r"\s+")
_TOKEN = re.compile(r" ?(?:[\w-]+|[^\w\s-])")
_N_CODEPOINTS = 0x110000

MATCH_RULES = ("alor", "swat")
# Characters deleted by rule 'swat': SWAT drops " and '; typographic quotes, primes and
# guillemets are the same marks in other typography.
SWAT_QUOTES = "\"'\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u2032\u2033\u00ab\u00bb\u2039\u203a`\u00b4"
_SWAT_QUOTE_RE = re.compile("[" + re.escape(SWAT_QUOTES) + "]")
_SWAT_SEP_RE = re.compile(r"(?:[^\w\s]|_)+")


def check_match_rule(rule: str) -> str:
    """Return ``rule`` if it is a known caption-matching rule, else raise DataError naming them."""
    if rule not in MATCH_RULES:
        raise DataError(f"'match_rule' must be one of {', '.join(MATCH_RULES)}; got {rule!r}")
    return rule


def cross_class_policy(rule: str) -> str:
    """RDA's policy for an image matched by several classes under ``rule``.

    ``alor``: ``best`` (the class whose query is most similar to the caption); ``swat``: ``all``
    (SWAT keeps the image for every class that matched it).
    """
    return {"alor": "best", "swat": "all"}[check_match_rule(rule)]


def normalize_text(text: str, rule: str = "alor") -> str:
    """A caption or synonym as the matcher sees it under ``rule``.

    Parameters
    ----------
    text : str
    rule : {"alor", "swat"}
        ``alor`` returns ``text`` unchanged. ``swat`` deletes quotes (:data:`SWAT_QUOTES`) and
        turns every run of other non-word, non-space characters (``-`` and ``_`` included)
        into one space.

    Returns
    -------
    str
    """
    if check_match_rule(rule) == "alor":
        return text
    return _SWAT_SEP_RE.sub(" ", _SWAT_QUOTE_RE.sub("", text))


def normalize_synonyms(class_synonyms: list, rule: str = "alor") -> list:
    """Per class, the synonyms to match under ``rule`` (:func:`normalize_text` of each).

    Under ``swat`` a synonym that is only punctuation and quotes disappears.

    Raises
    ------
    DataError
        Under ``swat``, a class whose every name is only punctuation/quotes (nothing left to match).
    """
    if check_match_rule(rule) == "alor":
        return [list(syns) for syns in class_synonyms]
    out = []
    for label, syns in enumerate(class_synonyms):
        norm = [normalize_text(s, rule) for s in syns if s and s.strip()]
        if syns and any(s and s.strip() for s in syns) and not any(n.strip() for n in norm):
            raise DataError(
                f"class {label} ({', '.join(map(repr, syns))}): under match rule 'swat' its names are "
                "only punctuation and quotes, which SWAT's normalisation removes; expected a name "
                "or synonym with letters or digits (or use match rule 'alor')"
            )
        out.append(norm)
    return out


def normalize_regexes(rule: str = "alor") -> tuple[str, str] | None:
    """``(delete, separate)`` regexes (RE2 / Java syntax) that SQL engines apply, in this order,
    to a caption to get :func:`normalize_text`: delete every match of ``delete``, then replace
    every match of ``separate`` with one space. ``None`` under ``alor`` (no rewrite).
    """
    if check_match_rule(rule) == "alor":
        return None
    return char_class(SWAT_QUOTES), f"(?:[^{word_class()}{space_class()}]|[-_])+"


def _is_surrogate(c):
    return 0xD800 <= c <= 0xDFFF


def tables_version() -> str:
    """Key of everything the fold and the character classes depend on (the running Python)."""
    return f"py{sys.version.split()[0]}-unicode{unicodedata.unidata_version}-v{_RULES_VERSION}"


def cached_json(name: str, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per machine: kept as JSON under ``<cache_dir>/retrieval/``."""
    from ..io import atomic_write_json, read_json
    from ..paths import cache_dir

    path = cache_dir() / "retrieval" / f"{name}.json"
    try:
        return read_json(path)
    except (OSError, ValueError):
        value = compute()
        try:
            atomic_write_json(path, value)
        except OSError:  # a read-only cache is fine, we just recompute next time
            pass
        return value


def _compute_tables():
    tolower = _sre.unicode_tolower
    word = bytearray(_N_CODEPOINTS)
    space = bytearray(_N_CODEPOINTS)
    key = list(range(_N_CODEPOINTS))
    for c in range(_N_CODEPOINTS):
        if _is_surrogate(c):
            continue
        ch = chr(c)
        word[c] = _WORD.match(ch) is not None
        space[c] = _SPACE.match(ch) is not None
        lo = tolower(c)
        extra = _EXTRA_CASES.get(lo)
        key[c] = min(lo, *extra) if extra else lo
    members = {}
    for c in range(_N_CODEPOINTS):
        if key[c] != c:
            members.setdefault(key[c], {key[c]}).add(c)
    fold_map, twins = {}, {}
    for k, group in members.items():
        if any(space[m] for m in group):
            raise DataError(
                f"Python's case folding puts whitespace U+{k:04X} in a class with other "
                "characters; the token rules of alor_core.retrieval.phrases do not cover it"
            )
        if len({word[m] for m in group}) == 1:
            rep = {True: k, False: k}
        else:
            # U+0345 (non-word) is case-equal to the Greek iotas (word characters)
            rep = {
                w: min(
                    (m for m in group if word[m] == w and tolower(m) == m),
                    default=min(m for m in group if word[m] == w),
                )
                for w in (True, False)
            }
            twins[rep[True]], twins[rep[False]] = rep[False], rep[True]
        for m in group:
            if rep[bool(word[m])] != m:
                fold_map[m] = rep[bool(word[m])]
    for c in range(128):
        if fold_map.get(c, c) != ord(chr(c).lower()):
            raise DataError(
                f"Python's case folding of ASCII {chr(c)!r} is not lower-casing; the "
                "ASCII fast path of the SQL backends would be wrong"
            )
    return {
        "fold": sorted(fold_map.items()),
        "word": _ranges(word),
        "space": _ranges(space),
        "twins": sorted(twins.items()),
    }


@functools.cache
def _tables():
    """(fold map, word ranges, space ranges, twins), computed once per machine (~2 s) and cached."""
    raw = cached_json(f"phrase-tables-{tables_version()}", _compute_tables)
    return (
        {int(a): int(b) for a, b in raw["fold"]},
        [tuple(r) for r in raw["word"]],
        [tuple(r) for r in raw["space"]],
        {int(a): int(b) for a, b in raw["twins"]},
    )


def fold(text: str) -> str:
    """Map each character to its ``re.IGNORECASE`` class representative (ASCII: lower-case)."""
    return text.translate(_tables()[0])


@functools.cache
def _loose_table():
    table = dict(_tables()[0])
    for w, p in _tables()[3].items():
        if w < p:  # one representative per twin pair
            table[p] = w
            table.update({c: w for c, r in _tables()[0].items() if r == p})
    return table


def fold_loose(text: str) -> str:
    """:func:`fold` that also merges the U+0345 / iota class into one character.

    For substring prefilters: a regex match implies each synonym word, loosely folded, is a
    substring of the loosely folded caption.
    """
    return text.translate(_loose_table())


def caption_tokens(text: str) -> list[str]:
    """Tokens of a caption (reference tokenizer): word runs / single non-space characters.

    A token starts with one space when whitespace precedes it.
    """
    return _TOKEN.findall(_WS_RUN.sub(" ", fold(text)))


def _ranges(flags):
    out, start = [], None
    for c in range(_N_CODEPOINTS + 1):
        ok = c < _N_CODEPOINTS and flags[c] and not _is_surrogate(c)
        if ok and start is None:
            start = c
        elif not ok and start is not None:
            out.append((start, c - 1))
            start = None
    return out


def _class_body(ranges):
    return "".join(f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in ranges)


def _ascii_part(ranges):
    return [(a, min(b, 0x7F)) for a, b in ranges if a <= 0x7F]


@functools.cache
def word_class(ascii_only=False):
    """Body of a regex character class (RE2 / Java syntax) for Python's ``[\\w-]``.

    ``ascii_only``: its ASCII part only, which classifies an all-ASCII text the same way. Java's
    regex engine tests a character against a class range by range, so on ASCII text the short
    class is much faster than the full one (hundreds of Unicode ranges).
    """
    return _class_body(_ascii_part(_tables()[1]) if ascii_only else _tables()[1])


@functools.cache
def space_class(ascii_only=False):
    """Body of a regex character class (RE2 / Java syntax) for Python's ``\\s`` (``ascii_only``: as above)."""
    return _class_body(_ascii_part(_tables()[2]) if ascii_only else _tables()[2])


def class_synonyms_ordered(synonyms: Sequence[str]) -> list[str]:
    """Distinct synonyms of one class in match-priority order: longest first, then by folded text.

    Synonyms that differ only in case or spacing are one synonym (the regex matches them alike).
    Returns the synonyms with whitespace collapsed (display them with ``.lower()``).
    """
    by_key = {}
    for s in sorted({" ".join(s.split()) for s in synonyms if s and s.strip()}):
        by_key.setdefault(fold(s), s)
    return [by_key[k] for k in sorted(by_key, key=lambda k: (-len(k), k))]


@dataclass(frozen=True)
class Phrase:
    """One synonym (or one spelling variant of it) in token form.

    Attributes
    ----------
    label : int
        Class index.
    rank : int
        Position in :func:`class_synonyms_ordered`; the lowest matching rank is recorded.
    synonym : str
        Display form of the synonym.
    tokens : tuple of str
        Tokens as :func:`caption_tokens` makes them; the first has no leading space.
    anchor : str or None
        Longest word-run token without its leading space (``None`` if the synonym has none).
    """

    label: int
    rank: int
    synonym: str
    tokens: tuple
    anchor: str | None

    @property
    def single(self) -> bool:
        """True when the whole synonym is one word run: an anchor hit is then a match."""
        return len(self.tokens) == 1 and self.anchor is not None

    @property
    def punct_first(self) -> bool:
        return not _WORD.match(self.tokens[0][-1])

    @property
    def punct_last(self) -> bool:
        return not _WORD.match(self.tokens[-1][-1])


def _variants(folded):
    twins = _tables()[3]
    spots = [i for i, ch in enumerate(folded) if ord(ch) in twins]
    if 2 ** len(spots) > MAX_VARIANTS:
        raise DataError(
            f"synonym {folded!r} has {len(spots)} letters of the U+0345/iota case class; "
            f"at most {MAX_VARIANTS.bit_length() - 1} are supported"
        )
    out = [folded]
    for i in spots:
        out += [v[:i] + chr(twins[ord(v[i])]) + v[i + 1 :] for v in out]
    return out


def word_runs(tokens: Sequence[str]) -> list[str]:
    """The word-run tokens of a token sequence, without their leading spaces."""
    return [t.lstrip(" ") for t in tokens if _WORD.match(t[-1])]


def _anchor(runs, counts):
    if not runs:
        return None
    if counts is None:
        return max(runs, key=len)
    return min(runs, key=lambda r: (counts.get(r, 0), -len(r), r))


def compile_phrases(class_synonyms: Sequence[Sequence[str]], run_counts: dict[str, int] | None = None) -> list[Phrase]:
    """Token form of every synonym of every class.

    Parameters
    ----------
    class_synonyms : list of list of str
        Names to match per class (class name first).
    run_counts : dict or None
        Occurrences of word runs in a sample of the captions. The anchor is then the rarest run
        of the synonym ("retriever", not "golden"), which keeps the token check small; default:
        the longest run. Any run is a correct anchor, so this changes speed, never results.

    Returns
    -------
    list of Phrase
        Several per synonym only for the U+0345 class; ``(label, rank)`` identifies the synonym.

    Raises
    ------
    DataError
        A class has no non-empty name or synonym.
    """
    out = []
    for label, synonyms in enumerate(class_synonyms):
        ordered = class_synonyms_ordered(synonyms)
        if not ordered:
            raise DataError(f"class {label} has no non-empty name or synonym to match")
        for rank, syn in enumerate(ordered):
            for variant in _variants(fold(syn)):
                toks = tuple(_TOKEN.findall(variant))
                out.append(Phrase(label, rank, syn.lower(), toks, _anchor(word_runs(toks), run_counts)))
    return out


def phrase_matches(phrase: Phrase, tokens: Sequence[str]) -> bool:
    """Python evaluation of the token rule (reference for the SQL backends and their tests)."""
    n, first = len(phrase.tokens), phrase.tokens[0]
    for i in range(len(tokens) - n + 1):
        if tokens[i].lstrip(" ") != first or tuple(tokens[i + 1 : i + n]) != phrase.tokens[1:]:
            continue
        if phrase.punct_first and i > 0 and not tokens[i].startswith(" ") and _WORD.match(tokens[i - 1][-1]):
            continue
        j = i + n
        if phrase.punct_last and j < len(tokens) and not tokens[j].startswith(" ") and _WORD.match(tokens[j][-1]):
            continue
        return True
    return False


@functools.cache
def fold_tables():
    """Translate tables for SQL engines: ``full`` maps every code point to its fold directly;
    ``post`` only re-maps characters that are already lower-case, to be applied after ``lower()``.

    Returns
    -------
    dict with keys ``full_from, full_to, post_from, post_to`` (str of equal lengths pairwise)
    """
    fold_map = _tables()[0]
    post = {c: r for c, r in fold_map.items() if _sre.unicode_tolower(c) == c}
    return {
        "full_from": "".join(map(chr, fold_map)),
        "full_to": "".join(map(chr, fold_map.values())),
        "post_from": "".join(map(chr, post)),
        "post_to": "".join(map(chr, post.values())),
    }


def probe_text() -> tuple[list[int], str]:
    """``(code_points, text)``: every code point except surrogates, NUL and newline, one per line.

    Engines fold this text (as one string, or line by line) so their result can be compared
    with :func:`fold` for every character.
    """
    cps = [c for c in range(1, _N_CODEPOINTS) if not _is_surrogate(c) and c != 10]
    return cps, "\n".join(map(chr, cps))


def fold_mismatches(code_points: Sequence[int], folded_lines: Sequence[str]) -> list[int]:
    """Code points whose engine fold (``folded_lines``, one per code point) differs from :func:`fold`."""
    fold_map = _tables()[0]
    if len(folded_lines) != len(code_points):
        raise DataError(f"fold probe returned {len(folded_lines)} lines for {len(code_points)} code points")
    return [c for c, g in zip(code_points, folded_lines) if g != chr(fold_map.get(c, c))]


def char_class(chars: Iterable[str]) -> str:
    """A regex character class (RE2 / Java syntax) matching exactly ``chars``."""
    return "[" + "".join(f"\\x{{{ord(ch):x}}}" for ch in sorted(set(chars))) + "]"
