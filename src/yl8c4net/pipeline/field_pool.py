"""Worker processes for a block job's fields (``field_workers.pool: processes``).

About a third of a field's CPU work in the classify stage (photutils fits and aperture
statistics, pandas) holds the GIL, which caps threads near three fields at once however many
cores a job has; processes do not share it (on 2 cores the two are equal:
benchmarks/field_pool.py). A process pool needs what threads get for free:

- the work is sent as a *recipe* (a small picklable object whose ``build()`` loads the models
  and returns the per-field callable), built once in each worker process: torch models stay
  where they were loaded and ONNX sessions, which do not pickle, are opened per process;
- processes are *spawned* (a fresh interpreter): forking after CUDA or torch's OpenMP pool
  have started is unsafe. A spawned process imports the parent's main module under the name
  ``__mp_main__``, so a Snakemake script that uses this pool keeps its body under
  ``if __name__ == "__main__":`` (tests/test_pipelined_blocks.py checks it);
- the recipe sets what its work needs per process (the classifier's recipe: torch on one
  thread, so K workers use the job's K cores instead of K times them);
- the workers' log records go through a queue to the job's own handlers (its log file and
  the terminal), so their warnings are not lost;
- a worker ends itself when the job's process is killed, instead of waiting for work forever.

Errors keep their meaning: a field's data error raised in a worker reaches the parent as the
same exception (the field is quarantined), anything else fails the job with the worker's
traceback attached.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Protocol

from yl8c4net.sdss.fields import FieldId

#: The ways a block job can work on several fields at once (``field_workers.pool``).
POOLS = ("threads", "processes")


class FieldWorkRecipe(Protocol):
    """Picklable description of a stage's per-field work; ``build()`` loads what it needs
    (models, settings) and returns ``work(field) -> None | reason``."""

    def build(self) -> Callable[[FieldId], str | None]: ...


_work: Callable[[FieldId], str | None] | None = None  # this worker process's built work


def _start_worker(recipe: FieldWorkRecipe, log_queue, log_level: int) -> None:
    """Initializer of each worker process: logging to the parent (at the parent's level),
    the watch on the parent, the work."""
    global _work
    to_parent = logging.handlers.QueueHandler(log_queue)
    # The record's message as is: the job's own handlers add time, level and logger.
    to_parent.setFormatter(logging.Formatter("%(message)s"))
    logging.basicConfig(level=log_level, handlers=[to_parent], force=True)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    _work = recipe.build()


def _exit_with_parent(parent: int, interval_s: float = 1.0) -> None:
    """End this worker when the job's process is gone (killed: a lost node, a killed run).

    The pool's queues stay open in the worker itself, so an orphaned worker would otherwise
    wait forever, holding its memory and GPU context."""
    while os.getppid() == parent:
        time.sleep(interval_s)
    os._exit(1)


def _work_on(fid: FieldId) -> str | None:
    return _work(fid)


@contextlib.contextmanager
def process_pool(recipe: FieldWorkRecipe, workers: int) -> Iterator[Callable[[FieldId], str | None]]:
    """``workers`` spawned processes, each with the recipe built once; yields ``work(field)``, safe to call from ``workers`` threads at once (each call
    runs in whichever process is free)."""
    context = multiprocessing.get_context("spawn")
    log_queue = context.Queue()
    root = logging.getLogger()
    listener = logging.handlers.QueueListener(log_queue, *root.handlers, respect_handler_level=True)
    listener.start()
    try:
        with ProcessPoolExecutor(
            workers,
            mp_context=context,
            initializer=_start_worker,
            initargs=(recipe, log_queue, root.getEffectiveLevel()),
        ) as pool:
            yield lambda fid: pool.submit(_work_on, fid).result()
    finally:
        listener.stop()
