"""The read API: named queries over HTTP for callers the IdP vouches for, as the ClickHouse user their role has.

A call is: verify the JWT (:mod:`pulse.api.tokens`), map its role and department through the access
definition to one data source's ClickHouse user (:mod:`pulse.api.grants`), refuse what that user may
not run before touching the warehouse, bind the parameters as the named query declares them, run it
as that user (:mod:`pulse.api.warehouses`), and record the call in ``audit_log`` (:mod:`pulse.api.trail`).
"""
