"""Great Expectations data-quality gate."""
