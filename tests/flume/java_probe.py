"""Java test probes: small programs that drive the agent's own components (flume/*.java) through Flume's
API, compiled against the agent's classpath, one stdin command per line, one answer line each."""

from __future__ import annotations

import subprocess
from pathlib import Path

from carpipe.jvm import java_home


def compile_probe(source: Path, out_dir: Path, classpath: str) -> str:
    """The probe compiled against ``classpath``; returns the classpath to run it with."""
    javac = subprocess.run([str(java_home() / "bin" / "javac"), "-d", str(out_dir), "-cp", classpath, str(source)],
                           capture_output=True, text=True, timeout=300)
    assert javac.returncode == 0, javac.stderr[-3000:]
    return f"{out_dir}:{classpath}"


def run_probe(classpath: str, main: str, stdin: str, timeout: float = 120) -> list[str]:
    """Its stdout lines; a probe that fails fails the test, with its stderr."""
    out = subprocess.run([str(java_home() / "bin" / "java"), "-cp", classpath, main], input=stdin,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.splitlines()


class ProbeSession:
    """A probe kept running: ``ask`` sends one command and returns its answer (the probe's next line
    starting with ANSWER; other lines are its logs), so a test can act on the services between commands."""

    ANSWER = "= "

    def __init__(self, classpath: str, main: str):
        self.proc = subprocess.Popen([str(java_home() / "bin" / "java"), "-cp", classpath, main],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1)
        self.log: list[str] = []

    def ask(self, *commands: str) -> list[str]:
        answers = []
        for command in commands:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
            while not (line := self.proc.stdout.readline()).startswith(self.ANSWER):
                assert line, f"probe died on {command!r}:\n{''.join(self.log[-40:])}"
                self.log.append(line)
            answers.append(line.removeprefix(self.ANSWER).rstrip("\n"))
        return answers

    def close(self, timeout: float = 60) -> None:
        """End of input: the probe exits (without stopping what it drives)."""
        self.proc.stdin.close()
        try:
            self.log += self.proc.stdout.readlines()
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        assert code == 0, "".join(self.log[-40:])
