"""examples/journal_resume.py: a killed engine resumes from its event id and carries on."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "journal_resume.py"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_journal_resume_example(tmp_path, backend):
    pytest.importorskip("sessionkit_zmq")
    proc = subprocess.run([sys.executable, str(EXAMPLE), "--journal", str(tmp_path / "j"),
                           "--backend", backend],
                          capture_output=True, text=True, timeout=120)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "*** engine 1 killed (SIGKILL) while handling an answer ***" in out
    cursor = int(re.search(r"\[engine 2\] recovered from the journal: .*resume after event "
                           r"(\d+)", out).group(1))
    begin, end = map(int, re.search(r"\[engine 2\] resend complete: events (\d+)\.\.(\d+)",
                                    out).groups())
    assert cursor > 0 and begin == cursor + 1 and end >= begin
    # the event the first engine died in was never committed: it is handed over again.
    # Ids have gaps (heartbeats take ids too) and the cursor is committed per read batch,
    # so the event it died in is somewhere after the cursor, not necessarily cursor + 1.
    died_in = int(re.search(r"\[engine 1\] event (\d+): ACK eng-4", out).group(1))
    assert cursor < died_in <= end
    assert f"[engine 2] event {died_in}: ACK eng-4 -> MID 4 (replayed)" in out
    assert "never ACKed, sent again with the same cids: eng-4, eng-5" in out
    assert "MessageReplay asked for: eng-1 (MID 1)" in out
    assert "[engine 2] final: eng-1 done" in out  # the fill it missed while dead
    assert re.search(r"\[engine 2\] final: eng\.2-\d+ done", out)  # and it carried on
    handled = Counter(int(e) for e in re.findall(r"\[engine 2\] event (\d+):", out))
    assert max(handled.values()) == 1
    assert "(none twice)" in out
    assert "[engine 2] journal left: 0 requests in flight" in out
