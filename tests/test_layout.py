"""The house by role (docs/design.md): which package may import which, no import circles, no file
over the size a reader can hold, configs as leaves."""

import ast
import glob
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("common", "vae", "aae", "configs")
# common/'s layers, lowest first: a module may import its own layer and those below it.
LAYERS = ("common", "common.train", "common.evaluation", "common.report", "common.experiments")
LAYER_OF_TOOLS = "common.tools"  # above the loop only; nothing imports it but scripts
# The shared building blocks: the only modules at common/'s root.
BUILDING_BLOCKS = {
    "cli",
    "config_rules",
    "conv",
    "errors",
    "files",
    "input_pipeline",
    "latents",
    "nets",
    "parallel",
    "plotting",
    "priors",
    "shapes",
}
MAX_LINES = 500
# The plans' schema (what an experiment and a plan are) is a leaf that configs build plans with
# and reports render: any layer may read it.
PLAN_SCHEMA = "common.experiments.plans"


def _modules() -> dict[str, str]:
    """{dotted module name: path} of every module of the project's packages."""
    found = {}
    for package in PACKAGES:
        for path in glob.glob(os.path.join(ROOT, package, "**", "*.py"), recursive=True):
            rel = os.path.relpath(path, ROOT)[: -len(".py")].replace(os.sep, ".")
            found[rel.removesuffix(".__init__")] = path
    return found


def _imports(path: str, modules: dict[str, str]) -> set[str]:
    """The project modules `path` imports (at any depth of its code, type-only ones included)."""
    out = set()
    for node in ast.walk(ast.parse(open(path).read())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = [f"{node.module}.{a.name}" for a in node.names]
            names = [s for s in subs if s in modules] or [node.module]
        out |= {n for n in names if n in modules}
    return out


def _package(module: str) -> str:
    parts = module.split(".")
    if parts[0] != "common" or len(parts) == 1:
        return parts[0]
    return (
        "common" if f"common.{parts[1]}" not in LAYERS + (LAYER_OF_TOOLS,) else ".".join(parts[:2])
    )


def test_common_imports_nothing_above_it_and_its_layers_only_downwards():
    modules = _modules()
    for module, path in modules.items():
        # common/__init__.py is the package's face: `common.load` imports common.train when
        # called (the model packages are still resolved by name).
        if not module.startswith("common") or module == "common":
            continue
        package = _package(module)
        allowed = set(LAYERS[: LAYERS.index(package) + 1]) if package in LAYERS else set(LAYERS)
        for imported in _imports(path, modules):
            assert imported.split(".")[0] == "common", f"{module} imports {imported}"
            if imported == PLAN_SCHEMA:
                continue
            assert _package(imported) in allowed, f"{module} ({package}) imports {imported}"


def test_common_root_holds_only_the_shared_building_blocks():
    root = {
        os.path.basename(p)[: -len(".py")] for p in glob.glob(os.path.join(ROOT, "common", "*.py"))
    }
    assert root - {"__init__"} == BUILDING_BLOCKS


def test_configs_import_only_configs_and_their_helpers():
    modules = _modules()
    helpers = {"common.priors", "common.experiments.plans"}
    for module, path in modules.items():
        if module.startswith("configs."):
            for imported in _imports(path, modules):
                assert imported.startswith("configs") or imported in helpers, (
                    f"{module} imports {imported}"
                )


def test_no_import_circles():
    modules = _modules()
    graph = {m: _imports(p, modules) - {m} for m, p in modules.items()}
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in graph[m]:
            assert state.get(n) != 1, " -> ".join(path + [m, n])
            if n not in state:
                visit(n, path + [m])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])


def test_no_file_is_longer_than_a_reader_can_hold():
    for path in _modules().values():
        lines = len(open(path).read().splitlines())
        assert lines <= MAX_LINES, f"{os.path.relpath(path, ROOT)}: {lines} lines"


def test_pyproject_installs_every_package():
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        setuptools = tomllib.load(f)["tool"]["setuptools"]
    found = {m for m, p in _modules().items() if p.endswith("__init__.py")}
    assert set(setuptools["packages"]) == found | {"vae_aae_scripts"}
    assert setuptools["package-dir"] == {"vae_aae_scripts": "scripts"}


def test_the_design_pages_picture_is_the_import_graph():
    import re

    modules = _modules()
    for path in glob.glob(os.path.join(ROOT, "scripts", "*.py")):
        modules["scripts." + os.path.basename(path)[: -len(".py")]] = path

    def package(module: str) -> str:
        return "scripts" if module.startswith("scripts") else _package(module)

    real = {
        (package(m), package(i))
        for m, p in modules.items()
        for i in _imports(p, modules)
        if package(m) != package(i)
    }
    page = open(os.path.join(ROOT, "docs", "design.md")).read()
    graph = page[page.index("```mermaid") :].split("```")[1]
    drawn = {
        (a.replace("_", "."), b.replace("_", "."))
        for a, b in re.findall(r"^\s*(\w+) (?:-->|-\. [\w ]+ \.->) (\w+)$", graph, re.M)
    }
    assert drawn == real, (drawn - real, real - drawn)


def test_the_training_loop_stays_readable():
    path = os.path.join(ROOT, "common", "train", "trainer.py")
    source = open(path).read()
    (trainer,) = [
        n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == "Trainer"
    ]
    assert trainer.end_lineno - trainer.lineno + 1 <= 350
    assert len(source.splitlines()) <= 450
