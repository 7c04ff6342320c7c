"""Notification channels, one module each behind the Channel protocol, fed by a persistent outbox."""
