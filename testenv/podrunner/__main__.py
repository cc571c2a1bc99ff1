"""Entry point of `python -m testenv.podrunner`."""

import sys

from testenv.podrunner.cli import main

sys.exit(main())
