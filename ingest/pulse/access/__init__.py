"""Access as code: one definition of who reads which tables, columns and rows, rendered for ClickHouse.

``provisioning/access/access.yaml`` (:mod:`pulse.access.definition`) names roles, departments, the
sensitive column classes and each department's row slice. :mod:`pulse.access.render` turns it, with
the tables and columns the migrations create (:mod:`pulse.access.catalog`), into one ClickHouse user
per Grafana data source: ``users.d`` XML fragments and the same as SQL. Grafana OSS cannot stop a
query on a data source, so the data source's ClickHouse user is where access is enforced, and each
such user gets a Grafana organization of its own (:mod:`pulse.access.orgs`; the login mapping's
evaluator :mod:`pulse.access.login`, ``apply --grafana``'s plan :mod:`pulse.access.grafana_api`).
"""
