"""JSON Schemas shipped with the package."""
