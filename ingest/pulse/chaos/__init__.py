"""`pulse chaos`: faults injected under load into the local pipeline, then reconciliation against the truth."""
