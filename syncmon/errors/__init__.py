"""Error tracking: grouping errors into issues and the issue lifecycle."""
