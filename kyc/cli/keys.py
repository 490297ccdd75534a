"""``kyc keys``: the master keys of envelope encryption (kyc/storage/envelope.py)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from kyc.cli.common import console


def generate() -> None:
    """Print a new random master key (base64) for KYC_STORE_MASTER_KEY."""
    from kyc.storage.envelope import generate_master_key

    sys.stdout.write(generate_master_key() + "\n")


def rotate(
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Re-wrap every encrypted object's data key under the current master key.

    Run after moving the old key to KYC_STORE_PREVIOUS_MASTER_KEYS and setting the
    new one in KYC_STORE_MASTER_KEY; when it reports nothing left under an old key,
    the old key can be dropped. The content and the objects' ETags stay the same.
    S3 landings use SSE-KMS: rotate the KMS key in KMS (automatic yearly rotation).
    """
    from kyc import runtime
    from kyc.services.privacy import rotate_keys

    report = rotate_keys(runtime.current())
    if as_json:
        sys.stdout.write(json.dumps(report) + "\n")
        return
    for store, counts in report.items():
        console.print(
            f"{store}: {counts['rewrapped']} re-wrapped, {counts['current']} already current,"
            f" {counts['plain']} not encrypted (landed by others), {counts['skipped']} skipped"
        )
