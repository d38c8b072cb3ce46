"""Property-based fuzzing (hypothesis) of the parsers that read user files, plus the catalogue cases
of issue 8 that belong to them.

* split files (:mod:`alor_core.data.listfiles`): well-formed files round-trip whatever their paths,
  line ends, blank lines and trailing newline; any other bytes give an ImageSet or a
  :class:`~alor_core.errors.DataError` naming the file and the line;
* caption matching (:mod:`alor_core.retrieval.caption_match`, ``duckdb_match``): whole-word rule,
  case/whitespace/punctuation insensitivity, empty captions skipped, the python and DuckDB backends
  agree, local caption files (:mod:`alor_core.retrieval.local_sources`) never crash;
* synonym lists (:mod:`alor_core.retrieval.phrases`, ``read_classes_csv``, the SWAT metrics JSON of
  :mod:`alor_core.retrieval.importers`): never crash, blank and duplicate entries dropped, the class
  name always kept and always matched.
"""

from __future__ import annotations

import csv
import json
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from alor_core.data import ImageSet, read_classes_csv, read_list_file
from alor_core.data.listfiles import write_list_file
from alor_core.errors import DataError
from alor_core.retrieval import match_captions, match_captions_duckdb, synonym_pattern
from alor_core.retrieval.base import STATS_KEYS
from alor_core.retrieval.importers import classes_from_metrics, read_metrics_json
from alor_core.retrieval.local_sources import as_captions_table, from_caption_file
from alor_core.retrieval.phrases import class_synonyms_ordered, compile_phrases, fold

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_FEWER = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_SLOW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_ASCII_INT = re.compile(r"-?[0-9]+", re.ASCII)


def _scratch():
    """A fresh folder per hypothesis example (function-scoped fixtures are shared between examples)."""
    return tempfile.TemporaryDirectory(prefix="alor-fuzz-")


# --------------------------------------------------------------------------------------------
# split files
# --------------------------------------------------------------------------------------------

# image paths as users have them: spaces, Unicode (incl. U+2028 / U+0085, which are *not* line ends
# in the format), tabs inside; never a line break, surrounding whitespace or a leading '#'
_path_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n")
image_paths = st.text(_path_chars, min_size=1, max_size=24).map(str.strip).filter(lambda p: p and not p.startswith("#"))
separators = st.sampled_from([" ", "  ", "\t", " \t ", "\u3000"])
line_ends = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def split_files(draw):
    """``(file bytes, ids, labels, n_classes)`` of a well-formed split file in any of its spellings."""
    n_classes = draw(st.integers(1, 300))
    ids = draw(st.lists(image_paths, min_size=0, max_size=12, unique=True))
    labels = [draw(st.integers(0, n_classes - 1)) for _ in ids]
    end = draw(line_ends)
    lines = []
    for i, lab in zip(ids, labels):
        sep = draw(separators)
        # two columns only where the path's last word is not an integer (else it would read as a label)
        three = draw(st.booleans()) or _ASCII_INT.fullmatch(i.split()[-1]) is not None
        line = f"{i}{sep}{lab}" + (f"{draw(separators)}{draw(st.integers(0, 1))}" if three else "")
        line = draw(st.sampled_from(["", " ", "\t"])) + line + draw(st.sampled_from(["", " ", "\t"]))
        lines.append(line)
        while draw(st.integers(0, 4)) == 0:  # blank and whitespace-only lines anywhere
            lines.append(draw(st.sampled_from(["", " ", "\t \t"])))
    text = end.join(lines) + (end if draw(st.booleans()) else "")  # trailing newline or not
    bom = "\ufeff" if draw(st.booleans()) else ""
    return (bom + text).encode("utf-8"), ids, labels, n_classes


@FUZZ
@given(split_files())
def test_well_formed_split_file_round_trips(case):
    # Any spelling of a well-formed split file (CRLF/CR/LF, no trailing newline, blank lines, BOM,
    # 2 or 3 columns, paths with spaces and Unicode) reads back the same ids and labels, and
    # write_list_file -> read_list_file is the identity.
    raw, ids, labels, n_classes = case
    with _scratch() as d:
        f = Path(d) / "split.txt"
        f.write_bytes(raw)
        s = read_list_file(f, d, n_classes)
        assert s.ids == ids and s.labels.tolist() == labels
        write_list_file(Path(d) / "out.txt", s)
        back = read_list_file(Path(d) / "out.txt", d, n_classes)
        assert back.ids == ids and back.labels.tolist() == labels


_soup = st.lists(
    st.sampled_from(
        [
            b"a.jpg",
            b"dir/b c.png",
            b"0",
            b"1",
            b"7",
            b"-1",
            b"--2",
            b"+3",
            b"\xc2\xb2",
            b"\xd9\xa3",
            b"9" * 30,
            b"#",
            b" ",
            b"  ",
            b"\t",
            b"\r",
            b"\n",
            b"\r\n",
            b"\xc2\x85",
            b"\xe2\x80\xa8",
            b"\x0b",
            b"\x1c",
            b"\xef\xbb\xbf",
            b"\xff",
            b"\xc3",
            b"\xed\xa0\x80",
            b"\x00",
            b"x",
        ]
    ),
    max_size=40,
).map(b"".join)


@FUZZ
@given(
    st.one_of(st.binary(max_size=200), _soup, st.text(max_size=120).map(lambda t: t.encode("utf-8", "surrogatepass"))),
    st.one_of(st.none(), st.integers(1, 10)),
)
def test_malformed_split_file_parses_or_names_file_and_line(raw, n_classes):
    # Random bytes, token soup (Unicode digits, '--2', huge labels, odd line separators, bad UTF-8)
    # and random text: either a valid ImageSet or a DataError "<file>:<line>: ..." -- never an
    # IndexError/ValueError/UnicodeDecodeError traceback.
    with _scratch() as d:
        f = Path(d) / "split.txt"
        f.write_bytes(raw)
        try:
            s = read_list_file(f, d, n_classes)
        except DataError as err:
            m = re.match(re.escape(str(f)) + r":(\d+): ", str(err))
            assert m, str(err)
            n_lines = len(re.split(rb"\r\n|\r|\n", raw))
            assert 1 <= int(m.group(1)) <= n_lines
            return
        assert isinstance(s, ImageSet) and len(set(s.ids)) == len(s.ids)
        assert all(i and i == i.strip() for i in s.ids)
        assert all(0 <= lab < (n_classes or 2**62) for lab in s.labels.tolist())


def test_split_file_missing_trailing_newline_parses(tmp_path):
    # Catalogue: the last record without "\n" is read like the others (CRLF file too).
    f = tmp_path / "train.txt"
    f.write_bytes(b"a/x 1.jpg 0 1\r\nb/y.jpg 2 1")
    s = read_list_file(f, tmp_path, n_classes=3)
    assert s.ids == ["a/x 1.jpg", "b/y.jpg"] and s.labels.tolist() == [0, 2]


def test_split_file_label_out_of_range_names_file_line_and_range(tmp_path):
    # Catalogue: a label >= number of classes (or a negative one) names file, line and 0..C-1.
    f = tmp_path / "test.txt"
    f.write_text("a.jpg 0 1\n\nb.jpg 5 1\n")
    with pytest.raises(DataError) as err:
        read_list_file(f, tmp_path, n_classes=5)
    assert str(err.value) == f"{f}:3: label 5 is out of range; expected 0..4"
    f.write_text("a.jpg -1 1\n")
    with pytest.raises(DataError, match=re.escape(f"{f}:1: label -1 is out of range; expected 0..4")):
        read_list_file(f, tmp_path, n_classes=5)
    f.write_text("a.jpg " + "9" * 40 + " 1\n")  # int64 overflow is out of range too, not a crash
    with pytest.raises(DataError, match=re.escape(f"{f}:1: label 999") + r".*expected 0\.\.4"):
        read_list_file(f, tmp_path, n_classes=5)


def test_split_file_label_must_be_an_ascii_integer(tmp_path):
    # Found by fuzzing: "²" and "--5" passed str.isdigit() and crashed int() with a ValueError.
    # Only ASCII integers are labels: "a.jpg ² 1" is the two-column line of the path "a.jpg ²",
    # and "a.jpg ²" alone has no label at all.
    f = tmp_path / "t.txt"
    for bad in ("²", "--5", "٣"):
        f.write_text(f"ok.jpg 0 1\na.jpg {bad} 1\n", encoding="utf-8")
        s = read_list_file(f, tmp_path, n_classes=10)
        assert s.ids == ["ok.jpg", f"a.jpg {bad}"] and s.labels.tolist() == [0, 1]
        f.write_text(f"ok.jpg 0 1\na.jpg {bad}\n", encoding="utf-8")
        with pytest.raises(
            DataError,
            match=re.escape(f"{f}:2: expected '<path> <label> [<source>]'") + r".*got 'a\.jpg " + re.escape(bad),
        ):
            read_list_file(f, tmp_path, n_classes=10)


def test_split_file_non_utf8_names_line_and_byte(tmp_path):
    # A split file saved as Latin-1: the message names the file, the line and the byte.
    f = tmp_path / "t.txt"
    f.write_bytes(b"a.jpg 0 1\ncaf\xe9.jpg 1 1\n")
    with pytest.raises(DataError, match=re.escape(f"{f}:2: split file is not UTF-8 text (byte 0xe9 at column 4)")):
        read_list_file(f, tmp_path, n_classes=2)


def test_split_file_bom_unicode_separators_and_duplicates(tmp_path):
    # Found by fuzzing: a UTF-8 BOM became part of the first id, U+2028 inside a path split the line,
    # a duplicated image was reported without file or line.
    f = tmp_path / "t.txt"
    f.write_bytes("\ufeffa\u2028b.jpg 0 1\nc\x85d.jpg 1 1\n".encode("utf-8"))
    assert read_list_file(f, tmp_path, 2).ids == ["a\u2028b.jpg", "c\x85d.jpg"]
    f.write_text("a.jpg 0 1\nb.jpg 1 1\na.jpg 1 1\n")
    with pytest.raises(DataError, match=re.escape(f"{f}:3: image 'a.jpg' is already listed on line 1")):
        read_list_file(f, tmp_path, 2)


def test_write_list_file_refuses_ids_that_cannot_read_back(tmp_path):
    # An id with a line break, surrounding space or a leading '#' would come back different: refused.
    for bad in ("a\nb.jpg", " a.jpg", "a.jpg ", "#a.jpg", "", "bad\udcff.jpg"):
        with pytest.raises(DataError, match="cannot be written to split file"):
            write_list_file(tmp_path / "o.txt", ImageSet([bad], tmp_path, np.array([0])))
    assert not (tmp_path / "o.txt").exists()


# --------------------------------------------------------------------------------------------
# caption matching
# --------------------------------------------------------------------------------------------


def _table(folder, captions, binary=False):
    """A LAION-layout parquet (URL, TEXT) with one row per caption (``None`` = null)."""
    path = Path(folder) / "captions.parquet"
    if binary:
        text = pa.array([c if c is None or isinstance(c, bytes) else c.encode("utf-8") for c in captions], pa.binary())
    else:
        text = pa.array(captions, pa.string())
    pq.write_table(pa.table({"URL": [f"img/{i}.jpg" for i in range(len(captions))], "TEXT": text}), path)
    return path


def _rows(matches):
    return set(zip(matches["row"].tolist(), matches["label"].tolist()))


_syn_words = st.lists(st.text("abcdéÉ", min_size=1, max_size=4), min_size=1, max_size=3)
_filler = st.text("xyz019_ .,!?()'\t/", max_size=8)
_outside = st.sampled_from([" ", ",", "(", ")", ".", "!", "\t", "'", "/", "\u3000", ": "])
_glue = st.sampled_from(["x", "z", "0", "_", "-", "ж", "Ω"])  # word characters and the hyphen
_ws = st.sampled_from([" ", "  ", "\t", "\u3000", "\xa0", " \n "])


def _recase(draw, text):
    return "".join(ch.upper() if draw(st.booleans()) else ch.lower() for ch in text)


@st.composite
def word_cases(draw):
    """(synonyms of class 0, captions, expected rows): the synonym as a whole phrase or inside a word."""
    words = draw(_syn_words)
    syn = " ".join(words)
    captions, expected = [], set()
    for k in range(draw(st.integers(1, 8))):
        spelled = draw(_ws).join(_recase(draw, w) for w in words)  # any case, any whitespace run
        left, right = draw(_filler), draw(_filler)
        kind = draw(st.sampled_from(["whole", "glued_left", "glued_right"]))
        if kind == "whole":
            cap = (left + draw(_outside) if left else "") + spelled + (draw(_outside) + right if right else "")
            expected.add(k)
        elif kind == "glued_left":
            cap = left + draw(_glue) + spelled + (draw(_outside) + right if right else "")
        else:
            cap = (left + draw(_outside) if left else "") + spelled + draw(_glue) + right
        captions.append(cap)
    return [syn], captions, expected


@FUZZ
@given(word_cases())
def test_whole_phrase_matches_and_phrase_inside_a_word_does_not(case):
    # Documented rule: case-insensitive, words separated by any whitespace, no word character or
    # hyphen right before/after. A glued occurrence ("xcat", "cat-", "t-shirt") never matches.
    synonyms, captions, expected = case
    with _scratch() as d:
        m, stats = match_captions(_table(d, captions), [synonyms])
    assert set(m["row"].tolist()) == expected, (synonyms, captions)
    assert stats["rows"] == len(captions) and stats["empty_captions"] == 0


# hostile alphabet: hyphen/underscore, punctuation, Unicode spaces and case classes, NUL, emoji
_HOSTILE = list("abcAB-_ .,'+()1\t\n") + [
    "ſ",
    "\u212a",
    "İ",
    "ı",
    "ι",
    "\u0345",
    "é",
    "e\u0301",
    "ς",
    "Σ",
    "ß",
    "ẞ",
    "µ",
    "μ",
    "\u3000",
    "\xa0",
    "\u2028",
    "\x1c",
    "\x00",
    "🐈",
    "中",
]
hostile_text = st.lists(st.sampled_from(_HOSTILE), max_size=14).map("".join)
any_caption = st.one_of(hostile_text, st.text(max_size=20).filter(lambda t: not re.search("[\ud800-\udfff]", t)))


def _ascii_swapcase(text):
    return "".join(ch.swapcase() if ch.isascii() else ch for ch in text)


@FUZZ_FEWER
@given(
    st.lists(any_caption, min_size=1, max_size=12),
    st.lists(hostile_text, min_size=1, max_size=3),
    st.sampled_from([" ", "\t", "\u3000", "  \n"]),
)
def test_matching_ignores_case_and_whitespace_spelling(captions, syns, ws):
    # Swapping ASCII case or respelling every whitespace run (in captions and synonyms) changes
    # nothing; the python matcher equals the plain regex on every non-empty caption (prefilter exact).
    syns = [s for s in syns if s.strip()]
    assume(syns)
    respace = lambda t: re.sub(r"\s+", ws, t)  # noqa: E731
    with _scratch() as d:
        try:
            base = _rows(match_captions(_table(d, captions), [syns])[0])
        except DataError as err:  # >6 letters of the U+0345/iota class in one synonym: documented refusal
            assert "U+0345" in str(err) or "no non-empty" in str(err)
            return
        pat = synonym_pattern(syns)
        assert base == {(i, 0) for i, c in enumerate(captions) if c.strip() and pat.search(c)}
        for variant_caps, variant_syns in (
            (list(map(_ascii_swapcase, captions)), list(map(_ascii_swapcase, syns))),
            (list(map(respace, captions)), list(map(respace, syns))),
        ):
            got = _rows(match_captions(_table(d, variant_caps), [variant_syns])[0])
            assert got == base, (captions, syns)


@st.composite
def backend_cases(draw):
    """Random captions (some null/blank/non-UTF-8) and synonyms cut from them, so matches happen."""
    captions = draw(st.lists(any_caption, min_size=1, max_size=16))
    pieces = [w for c in captions for w in re.split(r"\s+", c) if w.strip()]
    n_classes = draw(st.integers(1, 3))
    syns = []
    for _ in range(n_classes):
        cls = draw(
            st.lists(
                st.one_of(st.sampled_from(pieces) if pieces else hostile_text, hostile_text), min_size=1, max_size=3
            )
        )
        syns.append([s for s in cls if s.strip()] or ["a"])
    names = [cls[0] for cls in syns]
    binary = draw(st.booleans())
    if binary:  # a messy LAION shard: TEXT as bytes, some not UTF-8, some null
        captions = [draw(st.sampled_from([c.encode("utf-8"), c.encode("utf-8") + b"\xff", None])) for c in captions]
    else:
        captions = [draw(st.sampled_from([c, c, None, "", " \t"])) for c in captions]
    # a caption that is exactly the class name (as text or UTF-8 bytes): always matched
    return captions + [n.encode("utf-8") if binary else n for n in names], syns, binary


@FUZZ_SLOW
@given(backend_cases())
def test_python_and_duckdb_backends_agree(case):
    # Same rows, labels, recorded synonyms and skip counts from the reference regex and DuckDB.
    captions, syns, binary = case
    with _scratch() as d:
        t = _table(d, captions, binary=binary)
        try:
            ref = match_captions(t, syns)
        except DataError as err:
            assert "U+0345" in str(err)
            return
        got = match_captions_duckdb(t, syns, threads=1)
    pd.testing.assert_frame_equal(got[0].astype(str), ref[0].astype(str))
    assert {k: got[1][k] for k in STATS_KEYS} == {k: ref[1][k] for k in STATS_KEYS}
    n = len(captions) - len(syns)
    assert {(n + c, c) for c in range(len(syns))} <= _rows(got[0])
    kinds = [_kind(c) for c in captions]
    assert (ref[1]["non_utf8"], ref[1]["empty_captions"]) == (kinds.count("bad"), kinds.count("empty"))


def _kind(caption):
    """'bad' (not UTF-8), 'empty' (null or blank) or 'text'."""
    if isinstance(caption, bytes):
        try:
            caption = caption.decode("utf-8")
        except UnicodeDecodeError:
            return "bad"
    return "empty" if caption is None or not caption.strip() else "text"


def test_empty_captions_are_skipped_counted_and_never_matched(tmp_path):
    # Catalogue: null, "" and whitespace-only captions are counted as empty_captions in both backends
    # and never produce a match, even for a punctuation-only synonym.
    caps = ["", None, "   ", "\t\u3000\n", "a cat", "-"]
    t = _table(tmp_path, caps)
    for matcher in (match_captions, match_captions_duckdb):
        m, stats = matcher(t, [["cat"], ["-"]])
        assert stats["empty_captions"] == 4 and stats["rows"] == 6
        assert _rows(m) == {(4, 0), (5, 1)}


def test_non_utf8_captions_are_counted_and_the_run_goes_on(tmp_path):
    # Catalogue (decision: keep going and count, never a replacement-character caption): a messy
    # LAION shard with undecodable bytes still matches its good rows; stats say how many were bad.
    t = _table(tmp_path, [b"a cat", b"caf\xe9 cat", b"\xff\xfe", b"CAT toy", None], binary=True)
    for matcher in (match_captions, match_captions_duckdb):
        m, stats = matcher(t, [["cat"]])
        assert (stats["non_utf8"], stats["empty_captions"]) == (2, 1)
        assert m["caption"].tolist() == ["a cat", "CAT toy"]
    # the same through a (path, caption) CSV and a parquet whose *string* column holds bad bytes
    (tmp_path / "c.csv").write_bytes(b"path,caption\na.jpg,a cat\nb.jpg,caf\xe9 cat\nc.jpg,\n")
    out, counts = from_caption_file(tmp_path / "c.csv", tmp_path / "t1", read_sizes=False)
    assert counts == {"rows": 3, "non_utf8": 1, "empty_captions": 1}
    raw = pa.array([b"a cat", b"\xff\xfe cat"], pa.binary()).view(pa.string())  # bypasses validation
    pq.write_table(pa.table({"path": ["a.jpg", "b.jpg"], "caption": raw}), tmp_path / "s.parquet")
    out, counts = from_caption_file(tmp_path / "s.parquet", tmp_path / "t2", read_sizes=False)
    assert counts == {"rows": 2, "non_utf8": 1, "empty_captions": 0}
    m, stats = match_captions_duckdb(out, [["cat"]])
    assert m["caption"].tolist() == ["a cat"] and stats["non_utf8"] == 1


def test_parquet_without_caption_column_names_found_and_expected_columns(tmp_path):
    # Catalogue: a parquet with no caption column says which columns it has and which it wanted.
    pq.write_table(pa.table({"path": ["a.jpg"], "label": [3]}), tmp_path / "p.parquet")
    with pytest.raises(DataError) as err:
        from_caption_file(tmp_path / "p.parquet", tmp_path / "o")
    msg = str(err.value)
    assert "columns present: 'path', 'label'" in msg
    assert (
        "expected an image-path column (one of path, image_path, image, file, filepath, URL) and a caption column (one of caption, text, TEXT, title)"
        in msg
    )
    with pytest.raises(DataError, match="columns present: 'path', 'label'; expected an image-path"):
        as_captions_table(tmp_path / "p.parquet", tmp_path / "o2")
    pq.write_table(pa.table({"URL": ["a.jpg"], "caption": ["a cat"]}), tmp_path / "laion.parquet")
    for matcher in (match_captions, match_captions_duckdb):  # the LAION layout needs TEXT and URL
        with pytest.raises(DataError, match="has no column 'TEXT'; columns present: URL, caption"):
            matcher(tmp_path / "laion.parquet", [["cat"]])
    (tmp_path / "laion.csv").write_text("URL,caption\na.jpg,a cat\n")
    with pytest.raises(DataError, match="has no column 'TEXT'; columns present: 'URL', 'caption'; expected TEXT"):
        match_captions(tmp_path / "laion.csv", [["cat"]])


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=160),
        st.lists(
            st.sampled_from(
                [
                    b"path",
                    b"caption",
                    b"TEXT",
                    b"URL",
                    b",",
                    b",",
                    b"\n",
                    b"\r\n",
                    b'"',
                    b"a cat",
                    b"x.jpg",
                    b"\xff",
                    b"\xef\xbb\xbf",
                    b"\x00",
                    b" ",
                ]
            ),
            max_size=30,
        ).map(b"".join),
    )
)
def test_random_caption_csv_never_crashes(raw):
    # Any bytes as a (path, caption) CSV, or as a LAION-layout CSV: a table / matches, or a DataError.
    with _scratch() as d:
        f = Path(d) / "c.csv"
        f.write_bytes(raw)
        try:
            out, counts = from_caption_file(f, Path(d) / "t", read_sizes=False)
            assert counts["rows"] == pq.read_table(out).num_rows
            assert counts["non_utf8"] + counts["empty_captions"] <= counts["rows"]
        except DataError as err:
            assert str(f) in str(err)
        try:
            m, stats = match_captions(f, [["cat"], ["a cat"]])
            assert stats["non_utf8"] + stats["empty_captions"] <= stats["rows"]
            assert all(("cat" in c.lower()) for c in m["caption"])
        except DataError as err:
            assert str(f) in str(err)


# --------------------------------------------------------------------------------------------
# synonym lists
# --------------------------------------------------------------------------------------------

synonym_text = st.one_of(
    hostile_text,
    st.text(max_size=12).filter(lambda t: not re.search("[\ud800-\udfff]", t)),
    st.sampled_from(["", " ", "\t", "Cat", "cat", " cat ", "CAT", "kitty  cat", "Kitty Cat"]),
)


@FUZZ
@given(synonym_text.filter(lambda s: s.strip()), st.lists(synonym_text, max_size=8))
def test_synonym_list_keeps_the_name_drops_blanks_and_duplicates(name, synonyms):
    # class_synonyms_ordered / compile_phrases: never crash (a DataError only for the documented
    # U+0345 limit), no blank entry, one entry per fold, longest first, the name always included.
    try:
        phrases = compile_phrases([[name] + synonyms])
    except DataError as err:
        assert "U+0345" in str(err)
        return
    ordered = class_synonyms_ordered([name] + synonyms)
    keys = [fold(s) for s in ordered]
    assert all(s.strip() and s == " ".join(s.split()) for s in ordered)
    assert len(set(keys)) == len(keys)
    assert [len(k) for k in keys] == sorted((len(k) for k in keys), reverse=True)
    assert fold(" ".join(name.split())) in keys
    assert {fold(" ".join(s.split())) for s in synonyms if s.strip()} <= set(keys)
    assert {p.rank for p in phrases} == set(range(len(ordered)))


@FUZZ
@given(
    st.lists(synonym_text.filter(lambda s: s.strip()), min_size=1, max_size=4, unique_by=lambda s: s.strip().lower())
)
def test_a_caption_equal_to_the_class_name_is_matched(names):
    # The class name is always one of the synonyms: a caption that is exactly the name matches it
    # (DuckDB: test_python_and_duckdb_backends_agree adds such captions to its random tables).
    with _scratch() as d:
        try:
            m, _ = match_captions(_table(d, names), [[n] for n in names])
        except DataError as err:
            assert "U+0345" in str(err)
            return
    assert {(i, i) for i in range(len(names))} <= _rows(m)


_csv_cell = st.text(st.characters(blacklist_categories=("Cs",)), max_size=10)


@FUZZ
@given(
    st.lists(
        st.tuples(_csv_cell.map(str.strip).filter(bool), st.lists(_csv_cell, max_size=4)),
        min_size=1,
        max_size=6,
        unique_by=lambda r: r[0].lower(),
    )
)
def test_classes_csv_synonyms_name_first_no_blanks_no_duplicates(rows):
    # read_classes_csv on any well-formed table: the name first, blank synonyms dropped, case
    # duplicates kept once, every non-blank synonym kept (up to case).
    with _scratch() as d:
        f = Path(d) / "classes.csv"
        with open(f, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["class_id", "class_name", "synonyms"])
            for i, (name, syns) in enumerate(rows):
                w.writerow([i, name, ";".join(syns)])
        try:
            info = read_classes_csv(f)
        except DataError as err:  # names equal after strip/lower are rejected by ClassInfo
            assert "duplicate class name" in str(err)
            return
    for (name, syns), got_name, got in zip(rows, info.names, info.synonyms):
        assert got_name == name and got[0] == name
        assert all(s.strip() for s in got)
        assert len({s.lower() for s in got}) == len(got)
        wanted = {s.strip().lower() for raw in syns for s in raw.split(";") if s.strip()}
        assert wanted <= {s.lower() for s in got}


_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=False), synonym_text)
_json = st.recursive(
    _json_leaf,
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(synonym_text, kids, max_size=3)),
    max_leaves=10,
)


@st.composite
def metrics_files(draw):
    """SWAT metrics JSON: well-formed most of the time, any JSON value in any field otherwise."""
    n = draw(st.integers(0, 4))
    out = {}
    for i in range(n):
        entry = {
            "name": draw(st.one_of(synonym_text, _json_leaf))
            if draw(st.integers(0, 5)) == 0
            else f"class {i} " + draw(synonym_text),
            "alternates": draw(st.one_of(st.dictionaries(synonym_text, st.integers(0, 99), max_size=5), _json))
            if draw(st.integers(0, 5)) == 0
            else draw(st.dictionaries(synonym_text, st.integers(0, 99), max_size=5)),
        }
        out[draw(st.sampled_from([str(i), str(i), "x", "-1", "0٣"]))] = entry
    return draw(st.one_of(st.just(out), _json))


@FUZZ
@given(metrics_files())
def test_metrics_json_synonyms_never_crash(raw):
    # Found by fuzzing: a JSON list, a list of alternates or a non-numeric count raised
    # AttributeError/TypeError. Now: a ClassInfo (name first, no blank or case/space duplicate
    # synonym) or a DataError naming the file.
    with _scratch() as d:
        f = Path(d) / "m.json"
        f.write_text(json.dumps(raw), encoding="utf-8")
        try:
            info = classes_from_metrics(read_metrics_json(f))
        except DataError as err:
            assert str(f) in str(err) or "class name" in str(err)
            return
    for name, syns in zip(info.names, info.synonyms):
        assert syns[0] == name
        keys = [" ".join(s.split()).lower() for s in syns]
        assert all(keys) and len(set(keys)) == len(keys)


def test_metrics_json_bad_shapes_have_clear_messages(tmp_path):
    # Each malformed shape names the file, the class and what was expected.
    f = tmp_path / "m.json"
    cases = [
        ([], "expected an object keyed by class id; got a JSON list"),
        ({"0": {"name": "cat", "alternates": ["kitty"]}}, "class 0 'alternates' must map synonyms to caption counts"),
        ({"0": {"name": "", "alternates": {}}}, "class 0 name '' is not a non-empty string"),
        ({"0": {"name": "cat", "alternates": {"kitty": "many"}}}, "caption counts \\(numbers\\)"),
    ]
    for raw, message in cases:
        f.write_text(json.dumps(raw))
        with pytest.raises(DataError, match=re.escape(str(f)) + ".*" + message):
            read_metrics_json(f)
    f.write_text(json.dumps({"0": {"name": "cat", "alternates": {"Kitty  Cat": 9, "kitty cat": 3, " ": 5, "CAT": 1}}}))
    assert classes_from_metrics(read_metrics_json(f)).synonyms == [["cat", "Kitty  Cat"]]


# --------------------------------------------------------------------------------------------
# classes.csv: malformed input
# --------------------------------------------------------------------------------------------

_CLASSES_HEADERS = [
    "class_id,class_name,synonyms",
    "class_name",
    "class_name,class_id",
    " Class_Name ,synonyms",
    "class_id,synonyms",
    "class_id,class_name,class_name",
    "\ufeffclass_id,class_name",
    "",
]
_CLASSES_TOKENS = [
    "0",
    "1",
    "2",
    "3",
    "-1",
    "+1",
    "01",
    "x",
    "9" * 25,
    "cat",
    "Cat",
    "dog",
    " dog ",
    "caf\xe9",
    "",
    " ",
    ",",
    ";",
    '"',
    "\n",
    "\r\n",
    "\r",
    "\ufeff",
    "\x00",
    "class_name",
]


@st.composite
def classes_soup(draw):
    """A likely header, then rows of id / name / separator tokens; sometimes a BOM or non-UTF-8 bytes."""
    lines = [draw(st.sampled_from(_CLASSES_HEADERS))]
    for _ in range(draw(st.integers(0, 5))):
        lines.append("".join(draw(st.lists(st.sampled_from(_CLASSES_TOKENS), max_size=7))))
    text = draw(st.sampled_from(["\n", "\r\n"])).join(lines) + draw(st.sampled_from(["", "\n"]))
    raw = text.encode(draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16"])))
    if draw(st.integers(0, 7)) == 0:
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from([b"\xff", b"\xe9", b"\xc3", b"\xed\xa0\x80"])) + raw[at:]
    return raw


_classes_bytes = st.one_of(
    st.binary(max_size=200),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=120).map(lambda t: t.encode("utf-8")),
    classes_soup(),
)


@FUZZ
@given(_classes_bytes)
def test_classes_csv_any_bytes_give_a_class_list_or_a_data_error(raw):
    # Found by this test's first version: a short row raised AttributeError, non-UTF-8 bytes a bare
    # UnicodeDecodeError, a BOM hid the class_id column. Now any bytes give a valid class list (the
    # header has class_name; names non-empty, stripped, unique up to case; the name first in its
    # synonyms) or a DataError '<file>:<line>: ...; expected ...' -- never another exception.
    with _scratch() as d:
        f = Path(d) / "classes.csv"
        f.write_bytes(raw)
        try:
            info = read_classes_csv(f)
        except DataError as err:
            assert str(err).startswith(str(f))
            assert re.match(re.escape(str(f)) + r":[0-9]+: .+; expected UTF-8 CSV text", str(err), re.S)
            return
    text = raw.decode("utf-8-sig")
    assert "class_name" in text.lower()
    assert len(info.names) >= 1 and len(info.synonyms) == len(info.names)
    keys = [n.lower() for n in info.names]
    assert len(set(keys)) == len(keys)
    for name, syns in zip(info.names, info.synonyms):
        # CSV quoting may join pieces ('"0"0' reads as 00), so compare with the quotes taken out
        assert name and name == name.strip() and name.replace('"', "") in text.replace('"', "")
        assert syns[0] == name and all(s.strip() for s in syns)


def _classes_file(tmp_path, raw):
    f = tmp_path / "classes.csv"
    f.write_bytes(raw if isinstance(raw, bytes) else raw.encode("utf-8"))
    return f


def test_classes_csv_short_row(tmp_path):
    # A row with only an id used to raise AttributeError ('NoneType' has no 'strip'): missing cells
    # are empty now, so a missing name is named; a row missing only its synonyms is fine.
    f = _classes_file(tmp_path, "class_id,class_name,synonyms\n0\n")
    with pytest.raises(DataError) as err:
        read_classes_csv(f)
    assert str(err.value).startswith(
        f"{f}:2: class 0 has no class_name (the row has 1 cell, the header "
        "3 columns); expected UTF-8 CSV text: a header 'class_id,class_name,synonyms'"
    )
    f = _classes_file(tmp_path, "class_id,class_name,synonyms\n0,cat\n1,dog,puppy\n")
    info = read_classes_csv(f)
    assert info.names == ["cat", "dog"] and info.synonyms == [["cat"], ["dog", "puppy"]]


def test_classes_csv_not_utf8(tmp_path):
    # Latin-1 bytes used to raise a bare UnicodeDecodeError: now a DataError with the line and column.
    f = _classes_file(tmp_path, "class_id,class_name,synonyms\n0,cat,\n1,caf\xe9,\n".encode("latin-1"))
    with pytest.raises(DataError) as err:
        read_classes_csv(f)
    assert str(err.value).startswith(
        f"{f}:3: the class table is not UTF-8 text (byte 0xe9 at column 6); expected UTF-8 CSV text"
    )
    assert isinstance(err.value.__cause__, UnicodeDecodeError)


def test_classes_csv_bom_keeps_class_id(tmp_path):
    # A BOM (Excel's "CSV UTF-8") used to turn the header's first cell into '\ufeffclass_id', so the
    # ids were silently ignored and the file order taken. Now the ids order the classes and are checked.
    f = _classes_file(tmp_path, b"\xef\xbb\xbfclass_id,class_name,synonyms\r\n1,dog,puppy\r\n0,cat,\r\n")
    info = read_classes_csv(f)
    assert info.names == ["cat", "dog"] and info.synonyms == [["cat"], ["dog", "puppy"]]
    f = _classes_file(tmp_path, b"\xef\xbb\xbfclass_id,class_name\n0,dog\n0,cat\n")
    with pytest.raises(DataError) as err:
        read_classes_csv(f)
    assert str(err.value).startswith(f"{f}:3: class_id 0 is already used on line 2; expected")


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("", 1, "the class table is empty (no header)"),
        ("0,cat\n1,dog\n", 1, "the first row '0,cat' is not a header with a class_name column"),
        ("class_id,class_name\n", 2, "the class table has a header but no class row"),
        ("class_name,class_name\ncat,dog\n", 1, "the header names column 'class_name' twice"),
        ("class_id,class_name\n0,cat\none,dog\n", 3, "class_id is 'one', not an integer"),
        ("class_id,class_name\n0,cat\n,dog\n", 3, "class_id is '', not an integer"),
        ("class_id,class_name\n0,cat\n2,dog\n", 3, "class_id 2 is out of range 0..1 for 2 classes (id 1 is missing)"),
        (
            "class_id,class_name\n0,cat\n" + "9" * 30 + ",dog\n",
            3,
            "class_id 999999999999999999999999... is out of range",
        ),
        ("class_id,class_name\n0,cat\n\n1,  \n", 4, "class 1 has an empty class_name"),
        (
            "class_id,class_name,synonyms\n0,cat,kitty\n1,dog,\n2,Cat,\n",
            4,
            "duplicate class name 'Cat' (classes 0 and 2); class names must be unique (class 0 is on line 2)",
        ),
        (
            "class_id,class_name,synonyms\n0,big, cat,kitty\n",
            2,
            "the row has 4 cells but the header has 3 columns (extra 'kitty'); quote a name or synonym",
        ),
        ('class_name\n"' + "a" * 140000 + '"\n', 2, "the row cannot be read as CSV (field larger than field limit"),
    ],
    ids=[
        "empty",
        "no_header",
        "header_only",
        "column_twice",
        "id_not_int",
        "id_empty",
        "id_gap",
        "id_huge",
        "empty_name",
        "duplicate_name",
        "extra_cell",
        "csv_error",
    ],
)
def test_classes_csv_malformed_messages(tmp_path, text, line, message):
    # Each malformed table: '<file>:<line>: <what is wrong>; <expected format>'.
    f = _classes_file(tmp_path, text)
    with pytest.raises(DataError) as err:
        read_classes_csv(f)
    assert str(err.value).startswith(f"{f}:{line}: {message}")
    assert "; expected UTF-8 CSV text: a header 'class_id,class_name,synonyms'" in str(err.value)


def test_classes_csv_blank_rows_trailing_commas_and_header_spacing(tmp_path):
    # Still read: blank lines, rows of empty cells, trailing empty cells, ' Class_Name ' in the header,
    # no class_id column (file order).
    f = _classes_file(tmp_path, "\n Class_Name , synonyms\n\ndog,puppy,\n,,\ncat,\n")
    info = read_classes_csv(f)
    assert info.names == ["dog", "cat"] and info.synonyms == [["dog", "puppy"], ["cat"]]
