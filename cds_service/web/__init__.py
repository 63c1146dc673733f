"""Pages for people, rendered on the server from what the service already computed."""
