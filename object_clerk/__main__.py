"""``python -m object_clerk``: the command line, as the ``object-clerk``
console script runs it."""

import sys

from object_clerk.cli import main

if __name__ == "__main__":
    sys.exit(main())
