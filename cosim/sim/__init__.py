"""Co-simulation: SimPy processes drive the wireless model and the engine."""
