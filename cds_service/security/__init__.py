"""Who may call the service: trusted issuers and their profiles (``issuers``), the key documents
fetched for them (``keys``), token verification (``tokens``) and the ``vte-cds check-ehr``
report (``check_ehr``), which runs the same checks one by one."""
