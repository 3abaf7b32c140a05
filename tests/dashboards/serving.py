"""The /dashboard blueprint in a Flask app of its own, served on a free loopback port (tests, benchmark)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from werkzeug.serving import make_server

from carpipe.config import Settings


@contextmanager
def dashboard_server(settings: Settings) -> Iterator[str]:
    """Yields the base URL of a server whose /dashboard reads ``settings.influx_db``."""
    from generator import dashboard

    logging.getLogger("werkzeug").setLevel(logging.WARNING)   # no line per request
    app = Flask("dashboard_test")
    app.register_blueprint(dashboard.bp, settings=settings)
    server = make_server(settings.bind_host, 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{settings.bind_host}:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
