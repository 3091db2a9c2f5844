"""Plumbing shared by the workflow's rule scripts and the command line: logging to the job's
log file and turning input errors into one line instead of a traceback.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path

from yl8c4net.errors import YL8C4NetError

#: Set by the workflow's Snakemake logger in the environment of the jobs it starts.
ERRORS_BY_LOGGER_ENV = "YL8C4NET_ERRORS_BY_LOGGER"


class OneLineFormatter(logging.Formatter):
    """For the terminal: the message without the traceback (which goes to the log file)."""

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info = record.exc_text = record.stack_info = None
        try:
            return super().format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


@contextlib.contextmanager
def step(log_path: str | Path | None, name: str):
    """Run a pipeline step: log INFO+ to ``log_path`` and stderr.

    Any exception ends the step with exit status 1 (Snakemake marks the job failed and, under
    ``--keep-going``, goes on with the others): the job's log file gets the full traceback,
    the terminal one line, ``ERROR {name}: {message}`` for a `YL8C4NetError` (bad input,
    named), or the exception's type and message and where the traceback is for anything
    else (a bug). Under the workflow's Snakemake logger (`snakemake_logger_plugin_yl8c4net`)
    that line is Snakemake's: it reads it from the log.
    """
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    terminal = logging.StreamHandler(sys.stderr)
    terminal.setFormatter(OneLineFormatter(fmt))
    if os.environ.get(ERRORS_BY_LOGGER_ENV) and log_path:
        # The workflow's Snakemake logger reads the error line back from the log and prints
        # it with the rule and the log's path: printed here too, a failed job would be two lines.
        terminal.addFilter(lambda record: record.levelno < logging.ERROR)
    handlers = [terminal]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_path, mode="w")
        file_handler.setFormatter(logging.Formatter(fmt))
        handlers.append(file_handler)
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True)
    log = logging.getLogger(f"yl8c4net.{name}")
    try:
        yield log
    except YL8C4NetError as exc:
        log.error("%s: %s", name, exc, exc_info=True)
        logging.shutdown()
        sys.exit(1)
    except Exception as exc:
        where = f" (traceback in {log_path})" if log_path else ""
        log.error("%s: %s: %s%s", name, type(exc).__name__, exc, where, exc_info=True)
        logging.shutdown()
        sys.exit(1)
