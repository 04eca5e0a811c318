"""`python -m archc`, which torchrun runs as `torchrun ... -m archc train ...`."""

import sys

from .cli import main

sys.exit(main())
