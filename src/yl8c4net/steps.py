"""Plumbing shared by the workflow's rule scripts and the command line: logging to the job's
log file and turning input errors into one line instead of a traceback.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

from .errors import YL8C4NetError


@contextlib.contextmanager
def step(log_path: str | Path | None, name: str):
    """Run a pipeline step: log INFO+ to ``log_path`` and stderr; on a `YL8C4NetError`
    write ``ERROR {name}: {message}`` and exit with status 1 (Snakemake marks the job failed
    and keeps going with the others under ``--keep-going``)."""
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=handlers, force=True
    )
    log = logging.getLogger(f"yl8c4net.{name}")
    try:
        yield log
    except YL8C4NetError as exc:
        log.error("%s: %s", name, exc)
        logging.shutdown()
        sys.exit(1)
