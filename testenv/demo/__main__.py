"""Entry point of `python -m testenv.demo`."""

import sys

from testenv.demo.cli import main

sys.exit(main())
