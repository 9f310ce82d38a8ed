"""Sphinx configuration of sk_cnn's documentation (``make docs``; needs the ``docs`` extra)."""

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # document this checkout even when it is not installed

import sk_cnn  # noqa: E402

# The gallery runs the plot_* examples on sklearn's digits (seconds each) unless told
# otherwise; their pictures go to the build folder, not into the source tree.
os.environ.setdefault("SK_CNN_EXAMPLE_DATA", "digits")
os.environ.setdefault("SK_CNN_EXAMPLE_OUTPUT", str(DOCS / "_build" / "example_output"))
os.environ.setdefault("MPLBACKEND", "Agg")

project = "sk_cnn"
author = "sk_cnn developers"
copyright = "sk_cnn developers"  # noqa: A001
release = sk_cnn.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",  # the user guide pages are Markdown (docs/guide/*.md), also read on GitHub
]
# Anchors for the headings down to ###, so that pages link to each other's sections
# ([text](page.md#section-title)); a link to a missing one fails the build.
myst_heading_anchors = 3
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
root_doc = "index"

autosummary_generate = True
autodoc_typehints = "none"  # the numpydoc sections say the types
numpydoc_show_class_members = False  # members are listed by the autosummary template
numpydoc_class_members_toctree = False

html_theme = "pydata_sphinx_theme"
html_title = f"sk_cnn {release}"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
html_static_path = []

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    # Run the plot_* examples (fast on digits); show the others without running them.
    "filename_pattern": r"[\\/]plot_",
    "ignore_pattern": r"(__init__|example_data)\.py",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "min_reported_time": 1,
    # "Examples using X" on every API page.
    "backreferences_dir": "generated/backreferences",
    "doc_module": ("sk_cnn",),
}


# The public modules: their __all__ names must be in api.rst (as sk_cnn.<name> when the top
# level re-exports them).
PUBLIC_MODULES = ("sk_cnn", "sk_cnn.estimators", "sk_cnn.preprocessing", "sk_cnn.networks",
                  "sk_cnn.training", "sk_cnn.io", "sk_cnn.inspection", "sk_cnn.plotting",
                  "sk_cnn.exceptions", "sk_cnn.recipes", "sk_cnn.datasets")


def _check_api_page(app):
    """Warn (an error under -W) when a public name is missing from api.rst."""
    import importlib

    from sphinx.util import logging

    text = (DOCS / "api.rst").read_text()
    for module_name in PUBLIC_MODULES:
        if f"   {module_name}\n" in text:  # the module's page documents all its names
            continue
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if name.startswith("_"):
                continue
            names = {f"{module_name}.{name}", f"sk_cnn.{name}"}
            if not any(f"{full}\n" in text or f"``{full}``" in text for full in names):
                logging.getLogger(__name__).warning(
                    f"{module_name}.{name} is in {module_name}.__all__ but not in docs/api.rst")


def setup(app):
    app.connect("builder-inited", _check_api_page)
