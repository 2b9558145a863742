"""Staff authentication for the dashboard and the risk/admin routes: scrypt passwords, RFC 6238
TOTP, HS256 JWT sessions, and the role dependencies (``api.auth.roles``)."""
