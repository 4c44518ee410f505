"""Structured logs: one JSON object per line, in UTC, with phone numbers masked.

`configure_logging(settings.log_level)` once at process start (the server, each uvicorn worker, CLI
commands). Every line carries `time` (ISO-8601 UTC with milliseconds and "Z"), `level`, `logger`,
`message`, the `extra={...}` fields of the call, and `exc` for exceptions. Any phone number in a line
(E.164 "+15155550101", NANP "515-555-0101", "(515) 555-0101", bare "5155550101") is masked to its
last two digits ("+*********01") after formatting, so neither a message, an argument, an extra field
nor a traceback can leak one. Stdlib only: the formatter is small and has no other needs.
"""

from __future__ import annotations

import json as jsonlib
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

# E.164 (+ and 8-15 digits); NANP written with separators; bare 10/11-digit NANP (area code 2-9).
_PHONE = re.compile(
    r"\+[1-9]\d{6,14}(?!\d)"
    r"|(?<![\d+])(?:1[ .-]?)?\(?[2-9]\d{2}\)?[ .-]\d{3}[ .-]\d{4}(?!\d)"
    r"|(?<![\d+])1?[2-9]\d{9}(?!\d)"
)
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access")


def _mask_one(m: re.Match[str]) -> str:
    s = m.group(0)
    digits = sum(c.isdigit() for c in s)
    seen, out = 0, []
    for c in s:
        if c.isdigit():
            seen += 1
            out.append(c if seen > digits - 2 else "*")
        else:
            out.append(c)
    return "".join(out)


def mask_phones(text: str) -> str:
    """`text` with every phone number's digits but the last two replaced by "*" (separators kept)."""
    return _PHONE.sub(_mask_one, text)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, extra fields, exc; phones masked."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in out:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return mask_phones(jsonlib.dumps(out, default=str, ensure_ascii=False))


class MaskedTextFormatter(logging.Formatter):
    """Plain text lines ("time level logger message"), UTC, phones masked: for reading at a terminal."""

    converter = None  # set in __init__: UTC

    def __init__(self) -> None:
        super().__init__("%(asctime)sZ %(levelname)s %(name)s %(message)s", "%Y-%m-%dT%H:%M:%S")
        self.converter = lambda t: datetime.fromtimestamp(t, UTC).timetuple()  # type: ignore[method-assign,assignment]

    def format(self, record: logging.LogRecord) -> str:
        return mask_phones(super().format(record))


def configure_logging(level: str, json: bool = True) -> None:
    """Route all logging (ours and uvicorn's) to stderr, as JSON lines (`json=True`) or masked text.

    level: a logging level name, any case ("INFO", "debug"). Raises ValueError for an unknown name.
    Idempotent: calling again replaces the handler instead of adding another.
    """
    name = level.strip().upper()
    if not isinstance(logging.getLevelNamesMapping().get(name), int):
        raise ValueError(f"unknown log level {level!r} (use DEBUG, INFO, WARNING, ERROR or CRITICAL)")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json else MaskedTextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(name)
    for logger_name in _UVICORN:  # uvicorn installs its own handlers: send its lines through ours
        lg = logging.getLogger(logger_name)
        for old in list(lg.handlers):
            lg.removeHandler(old)
        lg.propagate = True
