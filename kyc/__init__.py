"""Open KYC onboarding pipeline."""

__version__ = "0.1.0"
