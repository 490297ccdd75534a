"""Prefect flows (orchestration only)."""
