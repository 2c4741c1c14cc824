"""How the command line reports a failure: one line on stderr naming the cause and what to do,
a non-zero exit code, and the traceback only when asked for (``--debug`` or
``PUMPSTREAM_LOG_LEVEL=debug``).

- a :class:`~streams.exceptions.PumpstreamError` (an operational mistake: an unreachable broker, a
  port in use, a bad file or setting) prints ``error: <message>`` and exits 2;
- anything else prints ``error: <type>: <message> (rerun with --debug for the traceback)`` and
  exits 1;
- inside the Faust worker (``pumpstream worker``), a ``PumpstreamError`` a service raises while
  starting is reported the same way; any other crash keeps Faust's own log, traceback included.
"""

from __future__ import annotations

import contextlib
import logging
import traceback
import warnings
from collections.abc import Iterator

from rich.console import Console
from rich.text import Text

from streams.exceptions import PumpstreamError

#: Exit codes: an operational mistake the message explains, and an unexpected failure.
EXIT_MISTAKE = 2
EXIT_UNEXPECTED = 1

#: The logger Faust's worker reports a start-up failure on, with its traceback, before exiting 1.
FAUST_WORKER_LOGGER = "faust.worker"


def with_fix(message: str, fix: str) -> str:
    """``message`` followed by what to do: on the same line, or on a line of its own after a
    message that lists one problem per line."""
    return f"{message}\n{fix}" if "\n" in message else f"{message}; {fix}"


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (a pydantic error spans several)."""
    return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def report(exc: BaseException, console: Console, *, debug: bool) -> int:
    """Print ``exc`` for a person (after its traceback when ``debug``); return the exit code."""
    if debug:
        console.file.write("".join(traceback.format_exception(exc)))
        console.file.flush()
    if isinstance(exc, PumpstreamError):
        message, code = str(exc), EXIT_MISTAKE
    else:
        detail = one_line(exc)
        message = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        if not debug:
            message += " (rerun with --debug for the traceback)"
        code = EXIT_UNEXPECTED
    # Text, not markup: a message may hold brackets ("[wards.x]", pydantic's "[type=...]").
    console.print(Text.assemble(("error:", "red"), " ", message))
    return code


def debug_log_level() -> bool:
    """``PUMPSTREAM_LOG_LEVEL=debug`` (read through the settings; False when they are invalid)."""
    from streams.settings import load_settings

    # Only the log level is wanted here: no deprecation warning, no log line.
    with warnings.catch_warnings(), _logging_disabled():
        warnings.simplefilter("ignore")
        try:
            return load_settings().log_level == "debug"
        except PumpstreamError:
            return False


@contextlib.contextmanager
def _logging_disabled() -> Iterator[None]:
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


class _KeepBackMistakes(logging.Filter):
    """Keeps back the :class:`PumpstreamError` Faust's worker logs, with its traceback, when it
    fails; any other error is logged as Faust does (a crash after days of running belongs in the
    worker's log, traceback and all)."""

    def __init__(self) -> None:
        super().__init__()
        self.mistake: PumpstreamError | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, PumpstreamError) and record.levelno >= logging.ERROR:
            self.mistake = self.mistake or exc
            return False
        return True


@contextlib.contextmanager
def faust_start_errors() -> Iterator[None]:
    """Report a mistake found while the Faust worker starts as every other command does.

    Faust catches an exception from a service's start-up (the nurse station's port in use, say),
    logs it with its traceback, stops, and exits 1: a person would read a page of Faust's frames
    for a one-line problem. Here a :class:`PumpstreamError` among them is kept out of the log and
    raised again once Faust has exited, so :func:`report` prints its line (and the traceback
    under ``--debug``).
    """
    logger = logging.getLogger(FAUST_WORKER_LOGGER)
    kept_back = _KeepBackMistakes()
    logger.addFilter(kept_back)
    mistake: PumpstreamError | None = None
    try:
        try:
            yield
        except SystemExit as exit_:
            if exit_.code in (0, None) or kept_back.mistake is None:
                raise
            mistake = kept_back.mistake
    finally:
        logger.removeFilter(kept_back)
    if mistake is not None:
        raise mistake
