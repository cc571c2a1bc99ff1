"""Entry point of `python -m testenv`."""

import sys

from testenv.cli import main

sys.exit(main())
