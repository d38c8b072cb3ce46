"""What the Run page shows people: readable names for strategy and adaptation codes, and a job's
log folded to one line per stage (the raw progress-bar redraws stay behind a toggle)."""

from __future__ import annotations

import re

__all__ = ["STRATEGY_NAMES", "ADAPT_NAMES", "strategy_name", "adapt_name", "name_with_code", "stage_log"]

STRATEGY_NAMES = {
    "tfs": "Tail First Sampling",
    "random": "Random sampling",
    "entropy": "Entropy (most uncertain)",
    "coreset": "CoreSet (diverse)",
    "badge": "BADGE (uncertain + diverse)",
    "logo": "LoGo",
    "alfa_mix": "ALFA-Mix",
}
ADAPT_NAMES = {
    "lp": "Linear probe",
    "ft": "Finetuning",
    "ct": "Contrastive tuning (FLYP)",
    "pt": "Prompt tuning (CoOp)",
    "zeroshot": "Zero-shot (no training)",
}


def strategy_name(code: str) -> str:
    """``"tfs"`` -> ``"Tail First Sampling"``; ``"<x>_pcb"`` adds ", class-balanced (PCB)"; unknown codes as given."""
    code = str(code)
    if code.endswith("_pcb"):
        return f"{STRATEGY_NAMES.get(code[:-4], code[:-4])}, class-balanced (PCB)"
    return STRATEGY_NAMES.get(code, code)


def adapt_name(code: str) -> str:
    """``"lp"`` -> ``"Linear probe"``; unknown codes as given."""
    return ADAPT_NAMES.get(str(code), str(code))


def name_with_code(name: str, code: str) -> str:
    """Markdown: the readable name, then the code in small type (``Tail First Sampling :small[`tfs`]``)."""
    return name if name == code else f"{name} :small[`{code}`]"


# "round 1: 45%|████      | 00:03 training 3/10" (tqdm, as the CLI's progress bars write it)
_BAR = re.compile(r"^(?P<stage>[^:|]{1,60}):\s+(?P<pct>\d{1,3})%\|[^|]*\|\s*(?P<elapsed>[\d:]+)?,?\s*(?P<msg>.*)$")


def stage_log(lines: list[str]) -> list[str]:
    """Fold a job log to one line per stage.

    Consecutive progress-bar redraws of one stage become one line with the stage's last
    percentage, elapsed time and message; every other line (commands, warnings, errors, the
    summary) is kept as it is.

    Parameters
    ----------
    lines : list of str
        Log lines (carriage-return redraws already split, e.g. by :func:`alor_core.loop.jobs.log_tail`).

    Returns
    -------
    list of str
    """
    out: list[str] = []
    current = None  # stage of the last line in ``out`` when it is a folded bar
    for ln in lines:
        m = _BAR.match(ln.strip())
        if m is None:
            out.append(ln)
            current = None
            continue
        stage = m["stage"].strip()
        text = (
            f"{stage}: {m['pct']}%"
            + (f" · {m['elapsed']}" if m["elapsed"] else "")
            + (f" · {m['msg'].strip()}" if m["msg"].strip() else "")
        )
        if current == stage:
            out[-1] = text
        else:
            out.append(text)
            current = stage
    return out
