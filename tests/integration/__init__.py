"""Integration tests that talk to a real FHIR R4 server (sekmet-fhir) on 127.0.0.1."""
