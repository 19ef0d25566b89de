"""Latency–accuracy studies: a base scenario times a grid of overrides."""
