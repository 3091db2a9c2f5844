"""Job logs: the full traceback in the job's log file, one line on the terminal."""

import subprocess
import sys
import textwrap


def _run_step(tmp_path, body):
    script = tmp_path / "job.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from yl8c4net.pipeline.steps import step
            from yl8c4net.errors import FrameVerificationError

            def failing_helper(field):
            {textwrap.indent(textwrap.dedent(body), "    ")}

            with step({str(tmp_path / "job.log")!r}, "detect_block") as log:
                log.info("starting")
                failing_helper("run 4510 camcol 4 field 30")
            """
        )
    )
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)


def test_a_bug_leaves_its_traceback_in_the_log_and_one_line_on_the_terminal(tmp_path):
    res = _run_step(tmp_path, "raise KeyError(f'no column x_box in {field}')")
    assert res.returncode == 1
    log = (tmp_path / "job.log").read_text()
    assert "Traceback (most recent call last)" in log and "in failing_helper" in log
    assert "run 4510 camcol 4 field 30" in log
    errors = [ln for ln in res.stderr.splitlines() if "ERROR" in ln]
    assert len(errors) == 1 and "KeyError" in errors[0] and "job.log" in errors[0]
    assert "Traceback" not in res.stderr


def test_bad_input_is_one_named_line_with_the_traceback_kept_in_the_log(tmp_path):
    res = _run_step(tmp_path, "raise FrameVerificationError(f'{field}: frame-r is not a FITS file')")
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    assert "ERROR yl8c4net.detect_block: detect_block: run 4510 camcol 4 field 30: frame-r is not a FITS file" in (
        res.stderr
    )
    assert "Traceback (most recent call last)" in (tmp_path / "job.log").read_text()
