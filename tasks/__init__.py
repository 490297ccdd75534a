"""Prefect tasks: thin wrappers around kyc/."""
