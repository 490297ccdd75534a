"""Demo material: synthetic licences (``cards``) and demo applications (``generate``)."""
