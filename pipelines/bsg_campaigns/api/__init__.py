"""Talking to the BSG One-API over HTTP, and nothing else: the client (JWT login and refresh, retries, Retry-After), the shared rate limiter."""
