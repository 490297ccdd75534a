"""Pure domain logic: records, form parsing, matching, decision rules (no I/O)."""
