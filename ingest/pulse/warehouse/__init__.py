"""The warehouse: ClickHouse clients, the chDB HTTP bridge and schema migrations."""
