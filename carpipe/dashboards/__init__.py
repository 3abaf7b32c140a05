"""Dashboards as code: the panels and their InfluxQL, defined once (``definitions``).

The same definitions drive the Grafana JSON checked in under docker/grafana (``grafana``, regenerated
by ``python -m carpipe.dashboards``) and the platform's own /dashboard page (generator/dashboard.py),
which runs each panel's query server-side after expanding Grafana's macros the way Grafana does
(``macros``, ``panels``).
"""
