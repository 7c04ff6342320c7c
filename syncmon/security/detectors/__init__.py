"""Security detectors: one rule per class, fed Signals by the engine."""
