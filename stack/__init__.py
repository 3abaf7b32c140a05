"""The embedded stack's own code: services, health checks, the control CLI (`python -m stack.ctl`)."""

import sys
from pathlib import Path

# The shared package `carpipe` lives in plugins/ (Airflow's plugins folder, on its path); make it
# importable for `python -m stack.ctl` from any shell too.
_plugins = str(Path(__file__).resolve().parents[1] / "plugins")
if _plugins not in sys.path:
    sys.path.insert(0, _plugins)
