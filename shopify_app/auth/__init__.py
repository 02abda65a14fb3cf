"""Authentication: session tokens, offline tokens (exchange and refresh) and the install flow."""
