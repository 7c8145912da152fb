"""`kb build --quiet` and `kb validate --db` print what they found and nothing else: no progress bars
or log lines of the libraries that load the model, into a CI log or a terminal. A person at a terminal
who did not ask for quiet still sees the build's progress."""
import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

from kb import ROOT

from .conftest import FIXTURES

GOOD = (FIXTURES / "good-case.md").read_text(encoding="utf-8")
NOISE = ("Loading weights", "it/s]", "%|", "\r", "UserWarning", "FutureWarning", "WARNING")


def kb(root, *args, terminal=False):
    """`kb` in a child process, as a contributor or CI runs it, with PyTorch (the build's backend on a
    fresh clone, which has no ONNX export): (exit code, stdout, stderr)."""
    env = {**os.environ, "KB_EMBEDDING_BACKEND": "torch", "PYTHONPATH": str(ROOT)}
    env.pop("KB_MODEL", None)
    command = [sys.executable, "-m", "kb", "--root", str(root), *args]
    if not terminal:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, cwd=root)
        return done.returncode, done.stdout, done.stderr
    leader, follower = pty.openpty()  # stderr a terminal, as for a person typing the command
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns wide
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower, env=env, cwd=root)
    os.close(follower)
    err = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child has closed the terminal
            break
        if not chunk:
            break
        err += chunk
    os.close(leader)
    out = child.stdout.read().decode()
    child.wait(timeout=600)
    return child.returncode, out, err.decode(errors="replace")


@pytest.mark.model
def test_quiet_means_quiet_and_a_terminal_still_sees_progress(small_root):
    db = small_root / "kb.db"
    # a build into a log (CI, a redirect), even without --quiet: the verdict alone
    code, out, err = kb(small_root, "build", "--db", str(db))
    assert code == 0, err
    assert out == "" and err.strip().startswith("Built ") and len(err.strip().splitlines()) == 1, err
    # near-duplicates by meaning load the same model: the same
    twin = small_root / "cases" / "twin.md"
    twin.write_text(GOOD.replace("id: brighton-hove-reablement", "id: twin").replace("older people", "older residents"),
                    encoding="utf-8")
    code, out, err = kb(small_root, "validate", "--format", "github", "--db", str(db), str(twin))
    assert code == 0, err
    assert not [word for word in NOISE if word in err + out], err
    # (alike by title and by meaning, a twin is warned of once)
    assert err.strip() == "1 file(s) OK, 1 warning(s)." and out.startswith("::warning file=cases/twin.md"), (out, err)
    # at a terminal, --quiet is quiet
    code, out, err = kb(small_root, "build", "--db", str(db), "--quiet", terminal=True)
    assert code == 0, err
    assert out == "" and err.strip().startswith("Built ") and len(err.strip().splitlines()) == 1, err
    # at a terminal, without --quiet, the build's own progress shows (this change is patched in)
    twin.write_text(twin.read_text().replace("open-door", "open door"), encoding="utf-8")
    code, out, err = kb(small_root, "build", "--db", str(db), terminal=True)
    assert code == 0, err
    assert "patching" in err and "%|" in err and "Loading weights" not in err, err
