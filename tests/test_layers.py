"""The library's layers: each package imports only from the layers before it, in the order data
flows. The toy world is a data source below the stages, and no stage imports it (the stages read
its photos from folders and reach the toy models through ``idbooth:`` sources). Every import
counts, also those inside functions."""

import ast
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGE = ROOT / "idbooth_lib"
#: The layers in the order data flows (see idbooth_lib/__init__.py for why identity precedes data).
LAYERS = [
    {"config", "io", "ranges", "env", "logs", "checkpoints", "reporting", "viz", "preflight",
     "methods", "models", "vocabulary"},
    {"toy_world"},
    {"identity"},
    {"data"},
    {"diffusion"},
    {"training"},
    {"generation"},
    {"evaluation"},
    {"recognition"},
]
#: Data sources: below the stages, which never import them.
SOURCES = {"toy_world"}
#: Outside the layers: they may import any layer; no layer may import them.
CONSUMERS = {"toy", "standin", "experiments", "cli", "__init__"}


def _top(module: str) -> str | None:
    """``idbooth_lib.data.prepare`` → ``data``; None for other packages."""
    parts = module.split(".")
    return parts[1] if parts[0] == "idbooth_lib" and len(parts) > 1 else None


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every ``idbooth_lib`` module a file imports, with the line, at any depth of the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "idbooth_lib":  # from idbooth_lib import config
                found += [(node.lineno, f"idbooth_lib.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if _top(name) is not None]


def _rank(name: str) -> int | None:
    for rank, layer in enumerate(LAYERS):
        if name in layer:
            return rank
    return None


def layer_violations(package: Path = PACKAGE) -> list[str]:
    """``file:line imports module`` for every import that breaks the layering."""
    problems = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        own = relative.parts[0].removesuffix(".py")
        if own in CONSUMERS:
            continue
        own_rank = _rank(own)
        assert own_rank is not None, f"{relative} belongs to no layer: add it to LAYERS"
        for line, module in _imports(path):
            target = _top(module)
            target_rank = _rank(target)
            if target in CONSUMERS or target_rank is None or target_rank > own_rank or \
                    (target in SOURCES and own not in SOURCES):  # fmt: skip
                problems.append(f"{relative}:{line} imports {module}")
    return problems


def test_every_package_imports_only_earlier_layers():
    assert layer_violations() == []


def test_the_experiments_sit_above_the_toy_models_factory():
    """The programs that pretrain the toy models never reach into the book's experiments, which
    use their models (the stages and the toy world never do either: see the test above)."""
    found = [f"{path.relative_to(PACKAGE)}:{line}"
             for path in sorted((PACKAGE / "toy").rglob("*.py"))
             for line, module in _imports(path) if _top(module) == "experiments"]  # fmt: skip
    assert found == []


def test_the_toy_world_reads_only_the_core_and_the_prompt_vocabulary():
    """The world is a data source: of the library it reads the paper's prompt words and the core
    helpers (files, logs), never a stage (it once imported the generation stage for its words)."""
    imported = {_top(module) for path in (PACKAGE / "toy_world").rglob("*.py")
                for _, module in _imports(path)}  # fmt: skip
    assert imported - {"toy_world"} <= LAYERS[0]
    assert "vocabulary" in imported


def test_every_module_belongs_to_a_layer_or_is_a_consumer():
    names = {path.stem if path.is_file() else path.name for path in PACKAGE.iterdir()}
    names = {name for name in names if not name.startswith((".", "_")) or name == "__init__"}
    names -= {"__pycache__"}
    placed = set().union(*LAYERS) | CONSUMERS
    assert names <= placed, names - placed


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from idbooth_lib.training.finetune import finetune\n", ["diffusion/x.py:1"]),
        ("def f():\n    from idbooth_lib.toy_world.faces import ToyFaceWorld\n", ["diffusion/x.py:2"]),
        ("from idbooth_lib import evaluation\n", ["diffusion/x.py:1"]),
        ("from idbooth_lib.identity.align import warp_to_template\n", []),
    ],
)
def test_the_check_catches_a_backward_import(tmp_path, source, expected):
    """The checker itself: a later layer, the toy world, or a lazy import inside a function."""
    (tmp_path / "diffusion").mkdir()
    (tmp_path / "diffusion" / "x.py").write_text(source)
    found = [problem.split(" imports")[0] for problem in layer_violations(tmp_path)]
    assert found == expected


def _stage_docstrings():
    return {
        name: (PACKAGE / name / "__init__.py").read_text() for layer in LAYERS[1:] for name in layer
    }


def test_each_stage_package_names_its_chapter():
    for name, text in _stage_docstrings().items():
        assert "chapter" in text.split('"""')[1], name


def _module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_cycles(package: Path = PACKAGE) -> list[list[str]]:
    """Cycles of imports between the modules of ``package`` (a module importing a package's
    ``__init__`` is not counted: the package's own files import their siblings through it).
    A cycle that imports inside functions to hide from the interpreter still counts."""
    paths = {_module_name(path, package): path for path in package.rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        imported = {module for _, module in _imports(path)}
        graph[name] = sorted(target for target in imported
                             if target in paths and target != name and not name.startswith(f"{target}."))  # fmt: skip
    cycles, state = [], {}

    def visit(trail: list[str]) -> None:  # depth first; an "open" module met again closes a cycle
        name = trail[-1]
        state[name] = "open"
        for target in graph[name]:
            if state.get(target) == "open":
                cycles.append(trail[trail.index(target):])
            elif target not in state:
                visit([*trail, target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit([name])
    return cycles


def test_no_two_modules_import_each_other():
    assert import_cycles() == []


def test_the_cycle_check_sees_an_import_hidden_in_a_function(tmp_path):
    package = tmp_path / "idbooth_lib"
    (package / "evaluation").mkdir(parents=True)
    (package / "evaluation" / "run.py").write_text("from idbooth_lib.evaluation.comparisons import X\n")
    (package / "evaluation" / "comparisons.py").write_text(
        "def f():\n    from idbooth_lib.evaluation.run import read\n"
    )
    assert len(import_cycles(package)) == 1


def test_no_module_of_the_layers_imports_by_a_name_in_a_string():
    """``importlib.import_module("idbooth_lib...")`` or a ``"module:function"`` table would hide a
    dependency from the checks above (the bundle's loaders and the methods' terms once were)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).parts[0].removesuffix(".py") in CONSUMERS:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                    node.value.startswith("idbooth_lib.") and ":" in node.value:  # fmt: skip
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
            if isinstance(node, ast.Attribute) and node.attr == "import_module":
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert found == []
