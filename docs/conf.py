"""Sphinx configuration of sk_cnn's documentation (``make docs``; needs the ``docs`` extra)."""

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # document this checkout even when it is not installed

import sk_cnn  # noqa: E402

# The gallery runs every example on sklearn's digits (seconds each) unless told
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
    # Run every example (on digits, seconds each), so that each card has its own figure.
    "filename_pattern": r"\.py$",
    "ignore_pattern": r"__init__\.py",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "min_reported_time": 1,
    # "Examples using X" on every API page.
    "backreferences_dir": "generated/backreferences",
    "doc_module": ("sk_cnn",),
}


# The methods each estimator's API page documents (docs/_templates/autosummary/estimator.rst).
# The other public names of their classes are skorch's hooks, overridden or inherited
# (initialize_*, train_step, get_loss, infer, on_*, ...), which a user never calls;
# _check_estimator_members fails the build when a method sk_cnn defines is in neither group.
ESTIMATOR_MEMBERS = {
    "CNNClassifier": ("fit", "partial_fit", "predict", "predict_proba", "score", "transform",
                      "fit_transform", "get_feature_names_out", "summary", "get_params",
                      "set_params"),
    "CNNRegressor": ("fit", "partial_fit", "predict", "score", "transform", "fit_transform",
                     "get_feature_names_out", "summary", "get_params", "set_params"),
}
autosummary_context = {"estimator_members": {name: ", ".join(members)
                                             for name, members in ESTIMATOR_MEMBERS.items()}}


def _check_estimator_members(app):
    """Warn (an error under -W) when an estimator's page would miss one of its methods.

    A public name that a class of sk_cnn in the estimator's MRO defines must be on the page
    unless it is a fitted attribute (``name_``), a parameter (documented in the Parameters
    section), a metadata-routing ``set_*_request`` or a name of skorch's ``NeuralNet`` (its
    hooks, which sk_cnn overrides). Every listed name must exist.
    """
    import inspect
    import re

    from skorch import NeuralNet
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    for class_name, members in ESTIMATOR_MEMBERS.items():
        cls = getattr(sk_cnn, class_name)
        for name in members:
            if not callable(getattr(cls, name, None)):
                logger.warning(f"docs/conf.py lists {class_name}.{name}, which is not a method")
        parameters = set(inspect.signature(cls).parameters)
        ours = {name for klass in cls.__mro__ if klass.__module__.startswith("sk_cnn")
                for name in vars(klass) if not name.startswith("_")}
        for name in sorted(ours - set(members) - parameters - set(dir(NeuralNet))):
            if name.endswith("_") or re.fullmatch(r"set_\w+_request", name):
                continue
            logger.warning(f"{class_name}.{name} is missing from its API page: add it to "
                           f"ESTIMATOR_MEMBERS in docs/conf.py")


def _unlink_sklearn_refs(app, what, name, obj, options, lines):
    """scikit-learn's docstrings (``score``) link to labels of scikit-learn's own user guide,
    which this site does not have: keep their text, drop the link."""
    import re

    if getattr(obj, "__module__", "").startswith("sklearn"):
        lines[:] = [re.sub(r":ref:`([^`<]*?)\s*<[^`>]*>`", r"\1", line) for line in lines]


def _no_local_paths_in_examples(app, docname, source):
    """The examples print where they saved their pictures, an absolute path of this checkout:
    the gallery shows it relative to the repository."""
    if docname.startswith("auto_examples/"):
        source[0] = source[0].replace(str(ROOT) + os.sep, "")


def _check_no_local_paths(app, exception):
    """Warn (an error under -W) when a built page names a path of this machine."""
    if exception is not None or app.builder.format != "html":
        return
    from sphinx.util import logging

    for page in sorted(Path(app.outdir).rglob("*.html")):
        text = page.read_text(encoding="utf-8", errors="replace")
        for local in (str(ROOT), "/tmp/"):
            if local in text:
                logging.getLogger(__name__).warning(
                    f"{page.relative_to(app.outdir)} names the local path {local!r}")


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
    app.connect("builder-inited", _check_estimator_members)
    app.connect("autodoc-process-docstring", _unlink_sklearn_refs)
    app.connect("source-read", _no_local_paths_in_examples)
    app.connect("build-finished", _check_no_local_paths)
