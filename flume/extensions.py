"""The agent's own Java components, compiled against the installed Flume jars: the source's interceptor
(flume/WindowInterceptor.java) and the HDFS sink (flume/WindowSink.java).

Built on first use into the state directory, one directory per hash of the sources, so an edited source is
rebuilt and agents of different versions never share classes. Compiling into a temporary directory that
is renamed into place keeps two agents starting at once from seeing a half-written build.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from carpipe.config import Settings
from carpipe.jvm import java_home

SOURCES = tuple(Path(__file__).with_name(name)
                for name in ("WindowInterceptor.java", "WindowSink.java", "BoundMetricsServer.java"))
INTERCEPTOR_BUILDER = "carpipe.flume.WindowInterceptor$Builder"
SINK = "carpipe.flume.WindowSink"
METRICS_SERVER = "carpipe.flume.BoundMetricsServer"


class BuildError(RuntimeError):
    pass


def classes_dir(s: Settings) -> Path:
    """The compiled components' class directory (built if missing): goes on the agent's classpath."""
    digest = hashlib.sha256(b"".join(src.read_bytes() for src in SOURCES)).hexdigest()[:16]
    target = s.state_dir / "flume" / "classes" / digest
    if target.exists():
        return target
    javac = java_home() / "bin" / "javac"
    if not javac.exists():
        raise BuildError(f"no javac in {java_home()}: run `make install` (installs openjdk-17-jdk-headless)")
    target.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f"{digest}.", dir=target.parent))
    try:
        out = subprocess.run([str(javac), "-nowarn", "--release", "17", "-d", str(build),
                              "-cp", str(s.jars_dir / "flume" / "*"), *map(str, SOURCES)],
                             capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise BuildError(f"javac failed on {', '.join(src.name for src in SOURCES)}:\n{out.stderr[-4000:]}")
        try:
            build.rename(target)
        except OSError:  # another agent built it meanwhile
            if not target.exists():
                raise
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return target
