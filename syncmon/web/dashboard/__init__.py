"""The dashboard: server-rendered pages behind the access guard, their assets and live updates."""
