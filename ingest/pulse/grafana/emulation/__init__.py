"""What Grafana and its ClickHouse plugin do to a panel's query before the warehouse sees it, reproduced.

Grafana itself cannot run here; this emulation lets ``pulse bench dashboards``, ``pulse grafana preview``
and the tests send the warehouse exactly the SQL Grafana would (variables, macros, time ranges).
"""
