"""``python -m conda_wheel_bridge`` runs ``cwb``."""

import sys

from .cli import main

sys.exit(main())
