"""Pure clinical logic for VTE in multiple myeloma and calf muscular vein thrombosis.

Standard library only: no HTTP, FHIR or web framework is imported here. Every number lives in
``tables/*.toml``; each module implements one clinical idea and cites its rule ids.
"""
