"""The workflow's Snakemake logger (``--logger yl8c4net``, in both profiles): a failed job is
one line naming the rule, its cause and its log (issue 34)."""

import logging

import yaml

from snakemake_logger_plugin_yl8c4net import error_line_of_log, is_failed_command_report, one_line_job_error
from test_workflow import REPO, snakemake
from yl8c4net.pipeline.steps import ERRORS_BY_LOGGER_ENV, step


def _job_error(log, rule="fetch_block", **extra):
    return {"rule_name": rule, "rule_msg": None, "log": log, "shellcmd": None, **extra}


def test_the_cause_is_the_last_error_line_of_the_jobs_log(tmp_path):
    log = tmp_path / "job.log"
    log.write_text(
        "2026-12-04 08:00:00,001 INFO yl8c4net.fetch_block: starting\n"
        "2026-12-04 08:00:01,002 ERROR yl8c4net.fetch_block: fetch_block: first\n"
        "2026-12-04 08:00:02,003 ERROR yl8c4net.fetch_block: fetch_block: mirror root /m is missing\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in <module>\n'
        "OSError: an ERROR inside a traceback is not the cause\n"
    )
    assert error_line_of_log(log) == "fetch_block: mirror root /m is missing"
    line = one_line_job_error(_job_error([str(log)]))
    assert line == f"FAILED fetch_block: mirror root /m is missing (log: {log})"
    # No log, or none with an error line: the rule's message, or where to look.
    assert one_line_job_error(_job_error([])) == "FAILED fetch_block: see its log"
    assert one_line_job_error(_job_error([str(tmp_path / "gone.log")], shellcmd="false")).startswith(
        "FAILED fetch_block: its command exited with a non-zero status (log: "
    )
    assert is_failed_command_report('RuleException:\nCalledProcessError in file "x.smk", line 4:\nCommand ...')
    assert not is_failed_command_report("RuleException:\nMissingOutputException in rule x")


def test_steps_leave_their_error_line_to_the_logger_only_when_it_runs(tmp_path, monkeypatch, capsys):
    from yl8c4net.errors import YL8C4NetError

    def failing_step(log_path):
        try:
            with step(log_path, "fetch_block"):
                raise YL8C4NetError("mirror root /m is missing")
        except SystemExit as exc:
            assert exc.code == 1
        finally:
            logging.shutdown()

    monkeypatch.delenv(ERRORS_BY_LOGGER_ENV, raising=False)
    failing_step(tmp_path / "a.log")
    assert "ERROR yl8c4net.fetch_block: fetch_block: mirror root /m is missing" in capsys.readouterr().err
    monkeypatch.setenv(ERRORS_BY_LOGGER_ENV, "1")
    failing_step(tmp_path / "b.log")
    assert "mirror root" not in capsys.readouterr().err  # the logger prints it, from the log
    assert error_line_of_log(tmp_path / "b.log") == "fetch_block: mirror root /m is missing"


def test_a_failed_job_is_one_line_under_the_workflows_profile(tmp_path):
    """A fetch job whose mirror is not mounted fails (a transient fault, retried once per
    the rule's retries): each attempt is one line, with the cause and the log, and none of
    Snakemake's blocks or tracebacks."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["simulate"]["enabled"] = False
    config["sdss"]["mirror_root"] = str(tmp_path / "unmounted")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    target = "resources/frames/9101/3/block-0011-0012.json"
    res = snakemake(
        "--profile", str(REPO / "profiles" / "local"), "--", target, cwd=tmp_path, config_file=tmp_path / "config.yaml"
    )
    text = res.stdout + res.stderr
    assert res.returncode != 0
    failed = [ln for ln in text.splitlines() if "FAILED" in ln]
    assert failed, text[-3000:]
    cause = f"FAILED fetch_block: mirror root {tmp_path / 'unmounted'} is missing or unreadable"
    log = "(log: logs/fetch_block/9101-3-0011-0012.log)"
    assert all(cause in ln and ln.endswith(log) for ln in failed), failed
    for noise in ("Error in rule", "RuleException", "CalledProcessError", "Traceback", " ERROR "):
        assert noise not in text, (noise, text[-3000:])
