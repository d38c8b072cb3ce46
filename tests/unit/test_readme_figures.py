"""The README's result figures are copies of generated files, never typed by hand: they must equal
their source (regenerate the source, then copy it)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _table_after(text: str, header: str) -> str:
    start = text.index(header)
    lines = []
    for line in text[start:].splitlines():
        if not line.startswith("|"):
            break
        lines.append(line)
    return "\n".join(lines)


def test_readme_claims_summary_is_the_generated_reports():
    header = "| finding | result | numbers |"
    readme = _table_after((ROOT / "README.md").read_text(encoding="utf-8"), header)
    report = _table_after((ROOT / "reports" / "demo" / "REPORT.md").read_text(encoding="utf-8"), header)
    assert report.count("\n") >= 5  # the summary has a row per finding
    assert readme == report
