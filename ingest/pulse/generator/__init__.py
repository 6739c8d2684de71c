"""Synthetic social traffic with an exact ground truth of what was sent."""
