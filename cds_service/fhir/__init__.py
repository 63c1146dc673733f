"""The FHIR client that fetches what a hook's prefetch lacks, and the embedded FHIR server of the
demo and the tests."""
