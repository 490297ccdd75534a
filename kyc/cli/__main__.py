"""``python -m kyc.cli``: the ``kyc`` command."""

from kyc.cli import main

if __name__ == "__main__":
    main()
