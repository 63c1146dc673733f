"""cds_service package."""
