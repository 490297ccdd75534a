"""The web app (``kyc serve``): the intake API for client systems and the review console.

One FastAPI application (:func:`kyc.web.app.create_app`) built on the same
:class:`kyc.runtime.Runtime` as the pipeline: the engines, stores, database and
notification channels come from one settings value.

- :mod:`kyc.web.intake`: ``/v1/applications`` (API keys, Idempotency-Key, limits).
- :mod:`kyc.web.console`: the reviewers' pages (login, queue, case, actions, stats).
"""
