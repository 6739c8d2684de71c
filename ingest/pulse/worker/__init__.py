"""What the long-running Kafka consumers (loader, archiver, hot updater) share: the exactly-once
offset-range worker and its sink seam, the consumer, the rebalance listener, retries, client-retry
memory, health and the run command."""
