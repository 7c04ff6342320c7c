"""Security monitoring: the event vocabulary, windowed detectors and the threat level."""
