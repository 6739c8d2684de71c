"""The collector: Segment-compatible HTTP ingestion that produces to Kafka."""
