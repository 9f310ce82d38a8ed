"""Root pytest configuration: skip collecting optional-dependency modules that cannot import."""

import importlib.util

# sk_cnn.plotting needs the optional matplotlib (the [plot] extra); --doctest-modules would
# otherwise fail to import it where matplotlib is absent. tests/test_plotting.py skips itself.
collect_ignore = [] if importlib.util.find_spec("matplotlib") else ["sk_cnn/plotting.py"]
