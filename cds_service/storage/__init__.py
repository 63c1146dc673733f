"""Everything that outlives a request, in the configured database (``VTE_CDS_DATABASE_URL``): a
SQLite file on one machine (the default, no set-up; every gunicorn worker opens the same file), or
PostgreSQL, which several instances share. No worker keeps in memory anything another worker or
instance would need.

``database``  the connection, its transactions, timeouts and failures (StoreUnavailable, 503)
``feedback``  CDS Hooks feedback, kept for good (no patient data)
``expiring``  values that expire, one table (``vte_state``): expiry enforced in the store
``shared``    the store opened on first use; the keys every worker shares; sealing (Fernet)
``links``     the charts behind the cards' assessment links, sealed, one hour
``sessions``  SMART app sessions and the key that signs their cookie, sealed, up to 8 hours
``replays``   each token's ``jti``, accepted once across workers and instances, until it expires
``snoozes``   a card kind snoozed for a patient (a keyed hash of the id) until a given time

``docs/security.md`` ("What the store keeps") lists what is kept, where and for how long.
"""
