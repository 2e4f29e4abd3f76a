"""examples/journal_resume.py: a killed engine resumes from its event id and carries on."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "journal_resume.py"


def test_the_journal_resume_example(tmp_path):
    proc = subprocess.run([sys.executable, str(EXAMPLE), "--journal", str(tmp_path / "j")],
                          capture_output=True, text=True, timeout=120)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    cursor = int(re.search(r"engine 2\] recovered from the journal: .*resume after event "
                           r"(\d+)", out).group(1))
    begin, end = map(int, re.search(r"engine 2\] resend complete: events (\d+)\.\.(\d+)",
                                    out).groups())
    assert cursor > 0 and begin == cursor + 1 and end >= begin
    assert "never ACKed, sent again with the same cids: eng-4, eng-5" in out
    assert "MessageReplay asked for: eng-1 (MID 1)" in out
    assert "[engine 2] final: eng-1 done" in out  # the fill it missed while dead
    assert re.search(r"\[engine 2\] final: eng\.2-\d+ done", out)  # and it carried on
    assert "(none twice)" in out and "handled twice: none" in out
    assert "journal left: 0 requests in flight" in out
