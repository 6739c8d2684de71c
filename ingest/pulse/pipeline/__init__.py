"""The local pipeline: Pulse's own services supervised on top of the local stack, `pulse up`, and the monitor."""
