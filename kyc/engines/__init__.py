"""Engine ports and their implementations (one file per engine)."""
