"""bench/results_file.py: a benchmark's new run goes on top, every earlier run stays below, verbatim."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from results_file import EARLIER, merge_results, transcript, write_results  # noqa: E402


def test_first_run_has_no_earlier_heading():
    text = merge_results("", "Title", "Command: `a`\n\n| x |\n")
    assert text == "# Title\n\nCommand: `a`\n\n| x |\n"
    assert EARLIER not in text


def test_runs_stack_newest_first_with_one_heading(tmp_path):
    path = tmp_path / "RESULTS_x.md"
    for run in ("run 1", "run 2", "run 3"):
        write_results(path, "Title v2", f"Command: `{run}`\n\nfigures of {run}")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Title v2\n\nCommand: `run 3`")
    assert text.count(EARLIER) == 1
    # newest first, nothing lost
    assert text.index("figures of run 3") < text.index(EARLIER) < text.index("figures of run 2")
    assert text.index("figures of run 2") < text.index("figures of run 1")
    assert not list(tmp_path.glob(".*.tmp"))  # the temp file was renamed, not left behind


def test_hand_written_sections_of_an_old_file_are_kept_verbatim():
    old = "# Old title\n\n## Quiet machine\n\nrow A\n\n## Projection\n\ntext B\n"
    text = merge_results(old, "New title", "new run")
    assert text.startswith("# New title\n\nnew run\n")
    assert "Old title" not in text
    assert "## Quiet machine\n\nrow A\n\n## Projection\n\ntext B" in text


def test_transcript_prints_each_line_and_keeps_it(capsys):
    lines, say = transcript()
    say("| a |")
    say()
    assert lines == ["| a |", ""]
    assert capsys.readouterr().out == "| a |\n\n"
