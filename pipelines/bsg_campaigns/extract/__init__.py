"""Which campaigns to read (listing by creation-date windows) and reading their details concurrently."""
