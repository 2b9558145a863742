"""`python -m derivatives`."""

import sys

from derivatives.cli import main

sys.exit(main())
