"""One module per CDS service and the cards built from an assessment (issue 4)."""
