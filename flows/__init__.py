"""Prefect flows (orchestration only).

Importing the package turns tracing on when KYC_TRACING is set, so that flow runs
started by any worker (Prefect's process worker imports the flow's module in a fresh
process) are traced; with it off this reads the settings and nothing else.
"""

from kyc import telemetry as _telemetry
from kyc.settings import get_settings as _get_settings

_telemetry.setup(_get_settings())
