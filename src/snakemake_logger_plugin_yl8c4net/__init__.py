"""Snakemake's terminal output for the YL8C4Net workflow (``--logger yl8c4net``, set in the
profiles under ``profiles/``): Snakemake's own, except that a failed job is one line,

    [Fri Dec  4 09:12:00 2026] FAILED fetch_block: mirror root /data/sdss is missing or unreadable (storage not mounted?) (log: logs/fetch_block/9101-3-0011-0012.log)

naming the rule, the cause (the job's own ``ERROR`` line, read back from its log, so that a
SLURM job's cause reaches the terminal too) and the log that holds the rest (the traceback).
Snakemake prints ten or more lines per failed job instead (the failed command, then the
rule's block), the cause not among them.

While this logger is active, the pipeline's steps (`yl8c4net.pipeline.steps.step`) leave
their error line out of the job's terminal output (it is in the log, and this logger prints
it), so that a failed job is one line, not two.

A Snakemake logger plugin is found by its module name (``snakemake_logger_plugin_<name>``),
hence this small top-level package beside ``yl8c4net``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.settings import LogHandlerSettingsBase

from yl8c4net.pipeline.steps import ERRORS_BY_LOGGER_ENV

#: How much of a job's log is searched, from its end, for the error line (bytes).
_LOG_TAIL_BYTES = 65536


@dataclass
class LogHandlerSettings(LogHandlerSettingsBase):
    """No settings: the behaviour is the workflow's."""


def error_line_of_log(path: str | Path) -> str | None:
    """The message of the last ``ERROR`` record in a job's log (the pipeline's format,
    ``<time> ERROR <logger>: <message>``), or None when there is none or the log cannot be
    read."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - _LOG_TAIL_BYTES))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        head, sep, message = line.partition(" ERROR ")
        if sep and head[:1].isdigit():
            return message.split(": ", 1)[1] if ": " in message else message
    return None


def one_line_job_error(msg: dict) -> str:
    """One line for a failed job, from Snakemake's job error record."""
    logs = [str(p) for p in msg.get("log") or []]
    cause = next((line for line in map(error_line_of_log, logs) if line), None)
    if cause is None:
        cause = msg.get("rule_msg") or (
            "its command exited with a non-zero status" if msg.get("shellcmd") else "see its log"
        )
    rule = msg["rule_name"]
    cause = cause.removeprefix(f"{rule}: ")  # the step names itself after its rule
    where = f" (log: {', '.join(logs)})" if logs else ""
    return f"FAILED {rule}: {cause}{where}"


def is_failed_command_report(message: str) -> bool:
    """Whether a Snakemake message is its report of a job's command (shell or script) that
    exited non-zero: the job's one line follows and says more."""
    first, _, rest = message.partition("\n")
    return first == "RuleException:" and rest.startswith("CalledProcessError in file")


def _formatter(quiet, show_failed_logs):
    from snakemake.logging import DefaultFormatter, get_event, timestamp
    from snakemake_interface_logger_plugins.common import LogEvent

    class OneLineErrorFormatter(DefaultFormatter):
        def format(self, record):
            if get_event(record) in (None, LogEvent.ERROR) and is_failed_command_report(str(record.msg)):
                return ""
            return super().format(record)

        def format_job_error(self, msg):
            return f"{timestamp()} {one_line_job_error(msg)}"

        def format_group_error(self, msg):
            # Snakemake logs each job of a failed group after the group: one line each.
            return ""

    return OneLineErrorFormatter(quiet, show_failed_logs)


class LogHandler(LogHandlerBase):
    """Snakemake's colouring terminal handler with `OneLineErrorFormatter`."""

    def __post_init__(self) -> None:
        from snakemake.logging import ColorizingTextHandler

        settings = self.common_settings
        self._terminal = ColorizingTextHandler(
            nocolor=settings.nocolor, stream=sys.stdout if settings.stdout else sys.stderr
        )
        self._terminal.setFormatter(_formatter(settings.quiet, settings.show_failed_logs))
        os.environ[ERRORS_BY_LOGGER_ENV] = "1"

    def emit(self, record) -> None:
        self._terminal.emit(record)

    @property
    def writes_to_stream(self) -> bool:
        return True

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return False

    @property
    def has_formatter(self) -> bool:
        return True

    @property
    def needs_rulegraph(self) -> bool:
        return False
