"""The package's import graph: no cycles, no upward imports, skorch's private API in one module.

Read from the source (every import statement, those inside functions included), not from
what Python happens to import first.
"""

import ast
import re
from pathlib import Path

import skorch
import skorch.callbacks
from sklearn.base import BaseEstimator

PACKAGE = Path(__file__).resolve().parents[1] / "sk_cnn"

# Lower layers never import higher ones; a module may import its own subpackage's modules
# and anything below it.
LAYERS = (
    ("_version", "exceptions", "_download", "datasets", "_skorch"),
    ("preprocessing",),
    ("networks",),
    ("training",),
    ("estimators",),
    ("inspection", "io", "recipes", "plotting"),
    ("cli",),
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    """{module: the sk_cnn modules it imports} for every module of the package."""
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module
                targets.add(module)
                # "from . import datasets" imports a module.
                targets |= {f"{module}.{alias.name}" for alias in node.names}
        modules = {_module_name(p) for p in PACKAGE.rglob("*.py")}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _layer(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    return next(i for i, names in enumerate(LAYERS) if top in names)


def test_no_module_imports_the_package_root():
    # The root's __init__ imports everything: importing it from inside would be circular.
    graph = _imports()
    offenders = sorted(m for m, targets in graph.items() if "sk_cnn" in targets and m != "sk_cnn")
    assert offenders == []


def test_subpackages_import_only_their_own_layer_and_below():
    graph = _imports()
    upward = [(m, t) for m, targets in graph.items() if m != "sk_cnn"
              for t in targets if t != "sk_cnn" and _layer(t) > _layer(m)]
    assert upward == []


def test_the_modules_import_no_cycle():
    graph = _imports()
    state = {}

    def visit(module, path):
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                raise AssertionError(f"import cycle: {' -> '.join(path + [target])}")
            if target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def _skorch_private_names() -> set[str]:
    classes = [skorch.NeuralNet, skorch.NeuralNetClassifier, skorch.NeuralNetRegressor,
               *[getattr(skorch.callbacks, name) for name in skorch.callbacks.__all__]]
    names = {name for cls in classes for name in vars(cls) if name.startswith("_")
             and not name.startswith("__")}
    for cls in classes:  # attributes their methods set, such as early stopping's misses_
        for node in ast.walk(ast.parse(Path(__import__("inspect").getfile(cls)).read_text())):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "self" and isinstance(node.ctx, ast.Store)):
                names.add(node.attr)
    # Names scikit-learn's BaseEstimator defines too are scikit-learn's to use.
    return {n for n in names if n.startswith("_") or n in ("misses_", "dynamic_threshold_")
            } - set(dir(BaseEstimator))


def test_skorchs_private_api_is_used_in_one_module():
    # sk_cnn's own module names (training._optimizers) are no attributes of skorch's.
    private = _skorch_private_names() - {path.stem for path in PACKAGE.rglob("*.py")}
    assert {"_set_training", "_default_callbacks", "misses_"} <= private  # the scan sees them
    own = PACKAGE / "_skorch.py"
    used = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == own:
            continue
        code = "\n".join(line for line in path.read_text().splitlines()
                         if not line.lstrip().startswith(("from ", "import ")))
        found = {name for name in private
                 if re.search(r"(\.|def |\")" + re.escape(name) + r"\b", code)}
        if found:
            used[str(path.relative_to(PACKAGE))] = sorted(found)
    assert used == {}
