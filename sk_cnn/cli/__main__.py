"""``python -m sk_cnn.cli``: the ``sk-cnn`` command."""

import sys

from ._main import main

sys.exit(main())
