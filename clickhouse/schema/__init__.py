"""The warehouse schema: ``NNNN_name.sql`` migrations, shipped in the package as ``pulse.warehouse.schema``."""
