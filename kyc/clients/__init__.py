"""Plumbing for calls to remote services that several engines share.

The HTTP resilience policy (retries, Retry-After, rate limits) and the boto3 client
factory (retries, timeouts, credentials check).
"""
