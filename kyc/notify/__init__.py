"""Notifications: signed webhooks, SNS and SMTP email (issue 6).

``base`` defines the :class:`~kyc.notify.base.Channel` port and the retry loop that
every channel shares; ``webhook``, ``sns`` and ``email`` are its implementations;
``dispatch`` builds them from the settings and decides who hears about what.
Nothing here touches the database: the caller records each attempt it is handed.
"""
