"""The embedded stack's own code: services, health checks, the control CLI (`python -m stack.ctl`)."""
