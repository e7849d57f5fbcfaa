"""``python -m livematch ...`` (and ``torchrun -m livematch run ...``): the ``livematch`` CLI."""

import sys

from livematch.cli import main

sys.exit(main())
