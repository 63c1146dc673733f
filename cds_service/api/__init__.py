"""What machines call besides the hooks: ``metrics`` (``GET /metrics``, and the timing of every
request that feeds it)."""
