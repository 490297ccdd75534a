"""One plain function per pipeline stage: runtime + typed inputs -> frozen record.

Where flows, the web app and the CLI meet. A service reads what it needs through
the :class:`~kyc.runtime.Runtime` (engines, stores, database), applies the rules of
:mod:`kyc.domain` and records the outcome; it knows nothing of Prefect. The Prefect
tasks in ``tasks/`` only wrap these functions with retries, timeouts and names, and
the batch flow calls the same functions inline.

Modules: ``intake`` (discover, form, registration, dead letters), ``case`` (the
application in flight and its images, fetched and decoded once), ``scan``,
``faces``, ``liveness``, ``duplicates``, ``registers``, ``licences``, ``quality``,
``decide``, ``notify``, ``review``, ``backlog`` (what waits: the metrics gauges).
"""
