"""Run a Docker build context without Docker: copy it to app/, make a fresh virtual environment and
run the Dockerfile's RUN lines there exactly as written (with the environment's bin/ first on PATH),
then start its CMD on 127.0.0.1 and stop it. For tests and bench/publish_bench.py."""
from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.live_server import free_port

# Settings of the developer's environment that a container would not have.
DROPPED_ENV = ("KB_ONNX_DIR", "KB_EMBEDDING_BACKEND", "KB_MODEL", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")


@dataclass
class Dockerfile:
    env: dict[str, str] = field(default_factory=dict)
    run: list[str] = field(default_factory=list)
    cmd: str = ""
    copies: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, path: Path) -> "Dockerfile":
        out = cls()
        for line in path.read_text(encoding="utf-8").splitlines():
            word, _, rest = line.strip().partition(" ")
            if word == "ENV" and "=" in rest.split(" ", 1)[0]:
                # ENV name=value ..., as Docker reads it (kb.publish_image writes this form)
                for pair in shlex.split(rest):
                    name, _, value = pair.partition("=")
                    out.env[name] = value
            elif word == "ENV":  # the older ENV name value, as Datasette writes it
                name, _, value = rest.partition(" ")
                out.env[name] = " ".join(shlex.split(value))
            elif word == "RUN":
                out.run.append(rest)
            elif word == "CMD":
                out.cmd = rest
            elif word == "COPY":
                source, target = rest.split()
                out.copies.append((source, target))
        return out


class ContainerEquivalent:
    """The image a Dockerfile describes, as a folder: app/ (the copied context) and venv/."""

    def __init__(self, context: Path, root: Path):
        self.context, self.root = Path(context), Path(root)
        self.dockerfile = Dockerfile.parse(self.context / "Dockerfile")
        self.app, self.venv = self.root / "app", self.root / "venv"

    def env(self, **extra) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
        env.update(self.dockerfile.env)
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env.update(extra)
        return env

    def install(self, timeout: float = 900) -> float:
        """COPY . /app, a fresh Python, every RUN line; returns the seconds it took."""
        started = time.monotonic()
        assert self.dockerfile.copies == [(".", "/app")], self.dockerfile.copies
        shutil.copytree(self.context, self.app)
        subprocess.run([sys.executable, "-m", "venv", str(self.venv)], check=True)
        for command in self.dockerfile.run:
            result = subprocess.run(command, shell=True, cwd=self.app, env=self.env(), capture_output=True, text=True,
                                    timeout=timeout)
            if result.returncode:
                raise RuntimeError(f"RUN {command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return time.monotonic() - started

    def installed_bytes(self) -> int:
        """The runtime's size on disk: the environment plus the app folder."""
        return sum(f.stat().st_size for top in (self.venv, self.app) for f in top.rglob("*")
                   if f.is_file() and not f.is_symlink())

    def has_module(self, name: str) -> bool:
        python = self.venv / "bin" / "python"
        return subprocess.run([str(python), "-c", f"import {name}"], capture_output=True).returncode == 0

    def command(self, port: int) -> str:
        # The CMD as written, listening on this machine only.
        command = re.sub(r"--host \S+", "--host 127.0.0.1", self.dockerfile.cmd)
        assert "--host 127.0.0.1" in command
        return "exec " + command.replace("$PORT", str(port))

    @contextlib.contextmanager
    def running(self, ready_path: str = "/-/versions.json", timeout: float = 60):
        """Start the CMD; yields (base URL, process, seconds until ready_path answered); stops it after."""
        port = free_port()
        started = time.monotonic()
        proc = subprocess.Popen(self.command(port), shell=True, cwd=self.app, env=self.env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}"
        try:
            while True:
                try:
                    urllib.request.urlopen(base + ready_path, timeout=2)
                    break
                except OSError:
                    if time.monotonic() - started > timeout or proc.poll() is not None:
                        raise RuntimeError(f"the site did not start: {proc.stderr.read().decode()[-3000:] if proc.poll() is not None else 'timeout'}")
                    time.sleep(0.05)
            yield base, proc, time.monotonic() - started
        finally:
            # `exec` made the shell into Datasette, so this is the server's own process
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
