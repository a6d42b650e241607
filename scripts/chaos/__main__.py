"""`python -m scripts.chaos [--long]`, run from the repository's root."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
