"""Web tests (kyc/web). Fixtures live in modules beside this file, imported by the tests
that use them (tests/web/console_fixtures.py for the review console)."""
