import random

import pytest

from alor_core.errors import DataError
from alor_core.retrieval import synonym_pattern
from alor_core.retrieval.phrases import caption_tokens, class_synonyms_ordered, compile_phrases, fold, phrase_matches

# characters that stress the hyphen rule, whitespace, punctuation and Unicode case folding
ALPHABET = [
    "a",
    "b",
    "A",
    "B",
    "-",
    "_",
    " ",
    "  ",
    "\t",
    ".",
    ",",
    "'",
    "+",
    "(",
    ")",
    "1",
    "ſ",
    "s",
    "S",
    "\u212a",
    "k",
    "İ",
    "ı",
    "i",
    "I",
    "ι",
    "\u0345",
    "Ι",
    "\u1fbe",
    "é",
    "e\u0301",
    "\u3000",
    "\xa0",
    "\u2028",
    "\x1c",
    "ς",
    "Σ",
    "σ",
    "ß",
    "ẞ",
    "µ",
    "μ",
    "ǅ",
    "ﬅ",
    "ﬆ",
]


def _matches(synonyms, caption):
    toks = caption_tokens(caption)
    return any(phrase_matches(p, toks) for p in compile_phrases([synonyms]))


def test_token_rule_equals_regex_on_random_adversarial_strings():
    # The token form (fold, tokens, anchors, boundary rule) decides exactly like the reference regex.
    rng = random.Random(7)
    n_pos = 0
    for _ in range(4000):
        syn = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 4))).strip()
        if not syn:
            continue
        pat = synonym_pattern([syn])
        for _ in range(4):
            cap = (
                "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 5)))
                + (syn if rng.random() < 0.5 else "")
                + "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 5)))
            )
            cap = cap.upper() if rng.random() < 0.3 else cap
            ref = pat.search(cap) is not None
            n_pos += ref
            assert _matches([syn], cap) == ref, (syn, cap)
    assert n_pos > 1000  # the sample holds many positives, not only easy negatives


@pytest.mark.parametrize(
    "syn, caption, expected",
    [
        ("cat", "category page", False),
        ("cat", "A CAT, on a mat", True),
        ("cat", "cat-like", False),
        ("shirt", "red t-shirt", False),
        ("shirt", "(shirt)", True),
        ("shirt", "shirt_pocket", False),
        ("ankle boot", "ANKLE \u3000 BOOT", True),
        ("ankle boot", "ankle-boot", False),
        (".net", "asp.net", False),
        (".net", "x..net", True),
        ("c++", "c+++", True),
        ("c++", "C++17", False),
        ("straße", "STRAẞE", True),
        ("straße", "STRASSE", False),
        ("kitty", "\u212aITTY", True),
        ("sun", "ſun", True),
        ("ι", "x\u0345", False),
        ("aι", "a\u0345", True),
    ],
)
def test_hand_picked_cases_agree_with_regex(syn, caption, expected):
    # Hyphen rule, punctuation boundaries, Unicode whitespace and case classes, stated by hand.
    assert (synonym_pattern([syn]).search(caption) is not None) == expected
    assert _matches([syn], caption) == expected


def test_fold_is_lowercase_on_ascii_and_merges_case_classes():
    # ASCII folds to lower case; re.IGNORECASE classes (ſ~s, K~k, ς~σ) fold to one character.
    assert fold("Hello-World_9") == "hello-world_9"
    assert fold("ſ") == fold("S") and fold("\u212a") == "k" and fold("ς") == fold("Σ")
    assert fold("ß") != fold("ss")


def test_synonym_order_and_dedup():
    # Case/spacing duplicates collapse; longest first decides which synonym is recorded.
    assert class_synonyms_ordered(["Cat", "cat", "kitty  cat", " "]) == ["kitty cat", "Cat"]
    with pytest.raises(DataError, match="no non-empty name or synonym"):
        compile_phrases([["  "]])


def test_anchor_is_longest_word_run():
    # The join key is the longest word run; a one-run synonym needs no token check.
    (p,) = compile_phrases([["Boeing 707-320"]])
    assert p.anchor == "707-320" and p.tokens == ("boeing", " 707-320") and not p.single
    (q,) = compile_phrases([["t-shirt"]])
    assert q.single and q.anchor == "t-shirt"
