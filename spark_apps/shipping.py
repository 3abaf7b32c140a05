"""Ship the job's own Python packages to the executors.

Executors run ``spark_apps.influx_sink`` (and through it ``carpipe.influx``). The driver zips the
copies it imported and hands the zip to ``SparkContext.addPyFile``, so submitting needs no
``--py-files`` and the executors always run the driver's exact code. When the packages were
already shipped (``--py-files`` with this zip, e.g. for cluster deploy mode: build it with
``python -m spark_apps.shipping DIR``), they are imported from that archive and nothing is added.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

ZIP_NAME = "carpipe_spark_apps.zip"


def packages():
    import carpipe
    import spark_apps

    return (spark_apps, carpipe)


def build_zip(directory: str | Path) -> Path:
    """Zip spark_apps and carpipe (their top-level .py files) into ``directory``; returns the zip path."""
    path = Path(directory) / ZIP_NAME
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for pkg in packages():
            root = Path(pkg.__file__).parent
            for f in sorted(root.glob("*.py")):
                z.write(f, f"{pkg.__name__}/{f.name}")
    return path


def ship(sc, directory: str | Path) -> None:
    """addPyFile the packages (zipped into ``directory``, which must outlive the job) unless they
    were imported from an archive that is on the executors already."""
    if all(Path(p.__file__).is_file() for p in packages()):
        sc.addPyFile(str(build_zip(directory)))


if __name__ == "__main__":
    print(build_zip(sys.argv[1] if len(sys.argv) > 1 else "."))
