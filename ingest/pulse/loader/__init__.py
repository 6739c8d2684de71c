"""The loader: Kafka topics -> ClickHouse in exactly-once offset-range batches."""
