"""The hot tier: the last minutes of the event stream in Redis, readable by Grafana's Redis plugin."""
