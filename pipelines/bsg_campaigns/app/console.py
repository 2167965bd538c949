"""Terminal output shared by the command line and the demo: the progress line, errors on stderr
(scrubbed of secrets), plain aligned tables."""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Optional, Sequence

from bsg_campaigns.report import RunReport

_progress_shown = False


def progress_printer() -> Optional[Callable[[RunReport], None]]:
    """The progress line on a terminal; None (no progress) when stderr is a file or pipe."""
    if not sys.stderr.isatty():
        return None

    def show(report: RunReport) -> None:
        global _progress_shown
        _progress_shown = True
        sys.stderr.write("\r\033[K" + report.progress_line())
        sys.stderr.flush()

    return show


def clear_progress() -> None:
    global _progress_shown
    if _progress_shown:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()
        _progress_shown = False


def error(message: str) -> None:
    clear_progress()
    print(scrubbed(message), file=sys.stderr)


def one_paragraph(exc: BaseException) -> str:
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip())


# Environment variables whose values must never be printed, whatever message carries them.
_SECRET_NAMES = ("API_KEY", "PASSWORD", "SECRET", "TOKEN", "PRIVATE_KEY")


def scrubbed(message: str) -> str:
    """Last line of defence: the messages never include secrets by construction, but a
    dlt or driver text quoted in one might (a credentials URL, a key)."""
    for name, value in os.environ.items():
        secret = any(part in name.upper() for part in _SECRET_NAMES) or ("CREDENTIALS" in name.upper() and "@" in value)
        if secret and len(value) >= 6 and value in message:
            message = message.replace(value, "***")
    return message


def print_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    """A plain aligned text table (no extra dependency)."""
    text = [[("" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in text]) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    for row in text:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
