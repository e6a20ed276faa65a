"""The README's examples run as written. Every ```sh block of README.md says whether it runs (`<!-- runnable -->`
before it) or why not (`<!-- not runnable: … -->`); the runnable ones run in order, in one bash session, against
a gateway of their own (on the simulator at its real speed, as the README describes it). Two things differ from a
reader's machine and are swapped in: the admin key (`wagw_…`) and the gateway's address
(`http://localhost:3001`).

Every curl must succeed: the test's `curl` wraps the real one and fails the script on an HTTP status of 400 or
more, naming the command and its answer."""

from __future__ import annotations

import os
import re
import subprocess

from server.core.config import ROOT
from tests.support.stack import running_stack, scratch_database

README = ROOT / "README.md"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
MARK = re.compile(r"<!-- (runnable|not runnable: [^>]+) -->\n$")
KEY_PLACEHOLDER = "wagw_…"
ADDRESS = "http://localhost:3001"

# The script's prelude: stop at the first failure, and a curl that fails on an error answer. Its output is what
# the real curl printed, so `$(curl … | jq …)` works as in the README.
PRELUDE = r"""
set -euo pipefail
curl() {
  local answer status
  answer=$(command curl --write-out '\n%{http_code}' "$@")
  status=${answer##*$'\n'}
  answer=${answer%$'\n'*}
  printf '%s\n' "$answer"
  if [ "$status" -ge 400 ]; then
    printf 'curl %s\n  answered HTTP %s: %s\n' "$*" "$status" "$answer" >&2
    return 1
  fi
}
"""


def sh_blocks() -> list[tuple[str, str]]:
    """Every sh block of the README, with its mark ("runnable" or "not runnable: why"; "" when unmarked)."""
    text = README.read_text()
    blocks = []
    for match in BLOCK.finditer(text):
        mark = MARK.search(text[:match.start()])
        blocks.append((mark[1] if mark else "", match[1]))
    return blocks


def test_every_sh_block_says_whether_it_runs():
    blocks = sh_blocks()
    assert blocks
    unmarked = [body.splitlines()[0] for mark, body in blocks if not mark]
    assert not unmarked, f"sh blocks without <!-- runnable --> or <!-- not runnable: why --> before them: {unmarked}"


def test_the_runnable_examples_run_in_order():
    runnable = [body for mark, body in sh_blocks() if mark == "runnable"]
    assert len(runnable) >= 5
    with scratch_database("sqlite") as url, running_stack(url, WAGW_SIMULATOR_TIME_SCALE="1") as stack:
        script = PRELUDE + "\n".join(runnable).replace(KEY_PLACEHOLDER, stack.admin_key).replace(
            ADDRESS, stack.envoy.url)
        env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8"}
        result = subprocess.run(["bash", "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,
                                timeout=240, check=False)
    assert result.returncode == 0, f"{result.stderr}\n--- output:\n{result.stdout[-4000:]}"
    # The walkthrough ends by deleting its profile; on the way it printed answers, not errors.
    assert '"success":true' in result.stdout
    assert '"success":false' not in result.stdout
