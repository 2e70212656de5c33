"""The package's import graph, read from the source: no module imports, directly or through
others, a module that imports it back (lazy imports inside functions count too: a cycle
through them is still a cycle of dependencies)."""

import ast
from pathlib import Path

import fastcavi

PACKAGE = Path(fastcavi.__file__).parent


def _module_name(path):
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path, name):
    """The fastcavi modules that the module ``name`` (file ``path``) imports, anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("fastcavi"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if not target.startswith("fastcavi"):
                continue
            found.add(target)
            # "from . import _x" names modules
            found.update(f"{target}.{a.name}" for a in node.names)
    return found


def import_graph():
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: sorted(m for m in _imports(path, name) if m in modules and m != name)
            for name, path in modules.items()}


def _cycles(graph):
    """Every strongly connected component with more than one module (Tarjan)."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


# The layers, top to bottom: a module may import its own layer and the layers below it, never
# one above (docs/contributing.md, "How the code is laid out").
LAYERS = [
    {"cli", "bench", "_registry", "_entry", "__main__", "bench_family", "bench_algorithms"},
    {"estimators"},
    {"models"},
    {"inference"},
    {"data"},
    {"kernels"},
    {"_threads", "_interrupt", "_validation", "reference", ""},  # leaves ("" is the root)
]


def _layer(module):
    """The index in LAYERS of a module ``fastcavi.<top>[.<rest>]``."""
    top = module.split(".")[1] if "." in module else ""
    return next(i for i, names in enumerate(LAYERS) if top in names)


def _upward(graph):
    return sorted((a, b) for a, targets in graph.items() for b in targets
                  if _layer(b) < _layer(a))


def test_nothing_imports_upwards():
    assert _upward(import_graph()) == []


def test_an_upward_import_is_found():
    graph = {"fastcavi.kernels.fixed": ["fastcavi.models.fixed"], "fastcavi.models.fixed": []}
    assert _upward(graph) == [("fastcavi.kernels.fixed", "fastcavi.models.fixed")]


def test_every_module_has_a_layer():
    for module in import_graph():
        _layer(module)  # StopIteration names a module that belongs to no layer


def test_few_modules_at_the_top_and_none_long():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 12, top
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 600}
    assert long == {}


def test_the_graph_is_read():
    graph = import_graph()
    assert "fastcavi.estimators.bayesian_mixture" in graph["fastcavi.cli.command"] or any(
        "fastcavi.estimators.bayesian_mixture" in graph[m] for m in graph)
    assert "fastcavi.models.family_full" in graph["fastcavi.models.family_fit"]


def test_no_import_cycles():
    assert _cycles(import_graph()) == []


def test_a_cycle_is_found():
    assert _cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]


# What a module of fastcavi/kernels/ may import of fastcavi: the kernels' own helpers and the
# thread set-up; "fastcavi" (the root, for its version) and "fastcavi.kernels" (the folder,
# which imports nothing) stand for `from .. import __version__` and `from . import cachedir`.
KERNEL_IMPORTS = {"fastcavi", "fastcavi._threads", "fastcavi.kernels", "fastcavi.kernels.core",
                  "fastcavi.kernels.fastexp", "fastcavi.kernels.jit", "fastcavi.kernels.cachedir"}


def _kernel_imports_outside(graph):
    """Per module of fastcavi/kernels/, what it imports of fastcavi beyond KERNEL_IMPORTS."""
    out = {}
    for module, targets in graph.items():
        if module == "fastcavi.kernels" or module.startswith("fastcavi.kernels."):
            extra = [t for t in targets if t not in KERNEL_IMPORTS]
            if extra:
                out[module] = extra
    return out


def test_kernel_modules_import_only_the_shared_core():
    """The model modules (fixed, diag, full, tied) sit side by side: each imports the shared
    ``core`` (and ``fastexp``, ``jit``), never another model's kernels nor the rest of fastcavi."""
    graph = import_graph()
    assert {"fastcavi.kernels.core", "fastcavi.kernels.jit"} <= set(
        graph["fastcavi.kernels.tied"])
    assert _kernel_imports_outside(graph) == {}


def test_a_kernel_module_importing_another_is_found():
    graph = {"fastcavi.kernels.tied": ["fastcavi.kernels.core", "fastcavi.kernels.full"],
             "fastcavi.kernels.core": ["fastcavi.kernels.jit", "fastcavi.models.fixed"],
             "fastcavi.models.fixed": ["fastcavi.kernels.fixed"]}
    assert _kernel_imports_outside(graph) == {
        "fastcavi.kernels.tied": ["fastcavi.kernels.full"],
        "fastcavi.kernels.core": ["fastcavi.models.fixed"]}


def test_every_module_that_defines_kernels_is_listed():
    """``fastcavi.kernels.KERNEL_MODULES`` (the modules the command checks for a compiled
    kernel in the cache) names exactly the modules of fastcavi/kernels/ with a cached kernel."""
    from fastcavi.kernels import KERNEL_MODULES

    def defines_kernels(path):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                for d in node.decorator_list:
                    f = d.func if isinstance(d, ast.Call) else d
                    if getattr(f, "id", None) == "cached_njit":
                        return True
        return False

    found = sorted(p.stem for p in (PACKAGE / "kernels").glob("*.py") if defines_kernels(p))
    assert "fixed" in found and "core" in found
    assert sorted(KERNEL_MODULES) == found


# -- where the covariance types branch ----------------------------------------------------------

def _type_comparisons(tree, names):
    """(line, text) of every comparison in ``tree`` against one of ``names`` (a string
    constant, or a tuple, list or set of them on the right of ``in``)."""
    def is_name(node):
        if isinstance(node, ast.Constant):
            return node.value in names
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return any(is_name(e) for e in node.elts)
        return False

    return [(node.lineno, ast.unparse(node)) for node in ast.walk(tree)
            if isinstance(node, ast.Compare)
            and any(is_name(side) for side in (node.left, *node.comparators))]


def test_covariance_types_branch_in_their_model_modules():
    """The math of each covariance type lives with the type (models/covariance.py, the
    family's and EM's per-type objects); elsewhere in the package (the plain reference aside)
    a handful of comparisons against a type's name at most, each a choice about that type
    (which type a benchmark draws a floor for, the command line's default)."""
    from fastcavi.models.names import COVARIANCE_TYPES

    found = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("reference/"):
            continue
        hits = _type_comparisons(ast.parse(path.read_text()), COVARIANCE_TYPES)
        if hits:
            found[rel] = hits
    assert sum(len(h) for h in found.values()) <= 3, found


def test_type_comparisons_are_found():
    tree = ast.parse("a == 'tied'\nb in ('full', 'x')\nc == 'other'\nd.get('diag')\n")
    assert [line for line, _ in _type_comparisons(tree, ("full", "tied", "diag"))] == [1, 2]


def test_every_covariance_type_has_its_em_math():
    from fastcavi.models.covariance import COVARIANCES
    from fastcavi.models.em_types import EM_TYPES
    from fastcavi.models.names import COVARIANCE_TYPES

    assert tuple(EM_TYPES) == tuple(COVARIANCES) == COVARIANCE_TYPES
