"""Model servers that run inside each service's container or process (never import `gateway`)."""
