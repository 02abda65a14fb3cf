"""HTTP routes other than webhooks: App Home, the JSON API, health, security headers."""
