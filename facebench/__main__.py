"""``python -m facebench`` (also what torchrun runs: ``torchrun ... -m facebench run ...``)."""
import sys

from facebench.cli import main

sys.exit(main())
