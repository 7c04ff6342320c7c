"""SyncScript Monitor: self-hosted production monitoring for web applications."""

__version__ = "0.1.0"
