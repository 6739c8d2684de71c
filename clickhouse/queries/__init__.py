"""The named queries: one ``<name>.sql`` each, shipped in the package as ``pulse.queries.sql``."""
