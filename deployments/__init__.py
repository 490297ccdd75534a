"""Deployment helpers (S3-notification bridge: issue 6)."""
