"""The ``kyc`` command: demo, ingest, process, decisions, dead letters, database.

One module per command group; this one builds the Typer app from them:

- :mod:`kyc.cli.pipeline`: ``ingest``, ``process``, ``reprocess``, ``bridge``
- :mod:`kyc.cli.engines`: ``read-document``, ``compare-faces`` (what each input gives:
  :mod:`kyc.cli.engine_records`)
- :mod:`kyc.cli.demo`: ``demo-generate``, ``demo``
- :mod:`kyc.cli.registers`: ``register-load``, ``register-check``, ``register-recheck``
- :mod:`kyc.cli.records`: ``decisions``, ``dead-letters``
- :mod:`kyc.cli.notifications`: ``notifications``, ``expiry-reminders``
- :mod:`kyc.cli.db`: ``db upgrade``
- :mod:`kyc.cli.audit`: ``audit verify``, ``audit export``
- :mod:`kyc.cli.keys`: ``keys generate``, ``keys rotate``
- :mod:`kyc.cli.privacy`: ``erase``, ``retention``
- :mod:`kyc.cli.web`: ``serve`` (intake API and review console)
- :mod:`kyc.cli.users`: ``users add|list|disable|set-role`` (console accounts)
- :mod:`kyc.cli.review`: ``review-stats`` (the reviewers' feedback)
- :mod:`kyc.cli.api_keys`: ``api-keys create|list|revoke`` (intake API clients)
- :mod:`kyc.cli.common`: the stderr console and Prefect's settings they share

The commands only parse arguments and print: decisions are the rules'
(:mod:`kyc.domain.rules`), read from the flows' outcomes or the database.
"""

from __future__ import annotations

import typer

from kyc.cli import (
    api_keys,
    audit,
    db,
    demo,
    engines,
    keys,
    notifications,
    pipeline,
    privacy,
    records,
    registers,
    review,
    users,
    web,
)

app = typer.Typer(help="Open KYC onboarding pipeline.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
keys_app = typer.Typer(help="Master keys of the encrypted object store.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(users.users_app, name="users")
app.add_typer(api_keys.app, name="api-keys")

# In the order ``kyc --help`` lists them.
for _name, _command in (
    ("ingest", pipeline.ingest),
    ("process", pipeline.process),
    ("read-document", engines.read_document),
    ("compare-faces", engines.compare_faces),
    ("reprocess", pipeline.reprocess),
    ("bridge", pipeline.bridge),
    ("demo-generate", demo.demo_generate),
    ("demo", demo.demo),
    ("register-load", registers.register_load),
    ("register-check", registers.register_check),
    ("register-recheck", registers.register_recheck),
    ("decisions", records.decisions),
    ("dead-letters", records.dead_letters),
    ("notifications", notifications.notifications),
    ("expiry-reminders", notifications.expiry_reminders),
    ("serve", web.serve),
    ("erase", privacy.erase),
    ("retention", privacy.retention),
    ("review-stats", review.review_stats),
):
    app.command(_name)(_command)
db_app.command("upgrade")(db.upgrade)
db_app.command("create-app-role")(db.create_app_role)
audit_app.command("verify")(audit.verify)
audit_app.command("export")(audit.export)
keys_app.command("generate")(keys.generate)
keys_app.command("rotate")(keys.rotate)


def main() -> None:
    """Console-script entry point."""
    _tracing()
    app()


def _tracing() -> None:
    """Trace every command when KYC_TRACING is on (nothing is imported when it is off)."""
    from kyc import telemetry
    from kyc.settings import get_settings

    try:
        settings = get_settings()
    except Exception:
        return  # a bad setting is reported by the command that needs it, clearly
    telemetry.setup(settings)
