"""`python -m validator_pod`: see `validator_pod.cli`."""

from __future__ import annotations

import sys

from validator_pod.cli import main

sys.exit(main())
