"""Access to the dashboard and the API: sessions, CSRF, login throttling, TOTP, roles."""
