"""Local suppliers as real HTTP servers: `printful.SandboxSupplier` speaks Printful's API v2."""
