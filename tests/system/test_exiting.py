"""pipeline.system.exiting: the process ends with the right status, after its threads, its
atexit handlers and its buffered output, without the interpreter's teardown."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipeline.system.exiting import status_code
from tests.helpers import REPO_ROOT


def run_script(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )


@pytest.mark.parametrize(
    ("status", "code"), [(None, 0), (0, 0), (3, 3), (130, 130), ("no good", 1)]
)
def test_status_code_is_what_sys_exit_gives(status, code, capsys):
    assert status_code(status) == code
    assert capsys.readouterr().err == ("no good\n" if isinstance(status, str) else "")


def test_exit_now_runs_what_has_effects_outside_the_process(tmp_path):
    done = run_script(
        tmp_path,
        """
        import atexit, sys, tempfile, threading, time
        from pathlib import Path
        from pipeline.system.exiting import exit_now

        out = Path(sys.argv[1])
        atexit.register(lambda: (out / "atexit").write_text("ran"))
        kept = tempfile.TemporaryDirectory(dir=out, prefix="scratch-")

        def late_writer():
            time.sleep(0.5)
            (out / "thread").write_text("finished")

        threading.Thread(target=late_writer).start()  # not a daemon: waited for
        sys.stdout.write("buffered, no newline")
        # Teardown would print this from its finalizer; exit_now skips teardown.
        class Loud:
            def __del__(self):
                print("teardown ran")
        loud = Loud()
        exit_now(7)
        """,
    )
    assert done.returncode == 7, done.stderr
    assert done.stdout == "buffered, no newline"
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "thread").read_text() == "finished"
    assert not list(tmp_path.glob("scratch-*"))  # weakref.finalize ran: removed


@pytest.mark.parametrize(
    ("ending", "code", "stderr"),
    [
        ("return None", 0, ""),
        ("return 2", 2, ""),
        ("raise SystemExit(143)", 143, ""),
        ("raise SystemExit('error: bad value')", 1, "error: bad value\n"),
    ],
)
def test_run_then_exit_keeps_the_status_of_main(tmp_path, ending, code, stderr):
    done = run_script(
        tmp_path,
        f"""
        from pipeline.system.exiting import run_then_exit

        def main():
            print("working")
            {ending}

        run_then_exit(main)
        print("not reached")
        """,
    )
    assert (done.returncode, done.stdout, done.stderr) == (code, "working\n", stderr)


def test_run_then_exit_lets_a_crash_show_its_traceback(tmp_path):
    done = run_script(
        tmp_path,
        """
        from pipeline.system.exiting import run_then_exit

        def main():
            raise KeyError("lost")

        run_then_exit(main)
        """,
    )
    assert done.returncode == 1
    assert "Traceback" in done.stderr
    assert done.stderr.rstrip().endswith("KeyError: 'lost'")
