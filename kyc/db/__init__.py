"""PostgreSQL models, migrations and repository functions."""
