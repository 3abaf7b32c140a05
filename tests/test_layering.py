"""The layers, in one sentence: the shared package ``carpipe`` at the bottom imports none of the
others; the legs (generator, flume, spark_apps) stand on it and import neither each other nor the
embedded stack; ``stack`` (the only code that knows the embedded services) stands on carpipe; the DAGs
on top may use carpipe and the legs, never the embedded stack.

Checked on every import statement of the tree (including those inside functions), by AST.
"""

from __future__ import annotations

import ast

import pytest

from carpipe.config import REPO_ROOT

LAYERS = ("carpipe", "generator", "flume", "spark_apps", "stack", "dags")
MAY_IMPORT = {
    "carpipe": set(),
    "generator": {"carpipe"},
    "flume": {"carpipe"},
    "spark_apps": {"carpipe"},
    "stack": {"carpipe"},
    "dags": {"carpipe", "generator", "flume", "spark_apps"},
}


def imports(layer: str) -> list[tuple[str, int, str]]:
    """(file, line, imported layer) for each import of another layer in ``layer``'s files."""
    out = []
    for path in sorted((REPO_ROOT / layer).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            out += [(str(path.relative_to(REPO_ROOT)), node.lineno, top) for name in names
                    if (top := name.split(".")[0]) in LAYERS and top != layer]
    return out


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_imports_only_what_is_below_it(layer):
    found = imports(layer)
    assert found or layer == "carpipe", f"{layer} imports no other layer: the walk found no files"
    assert [(f, line, top) for f, line, top in found if top not in MAY_IMPORT[layer]] == []


def test_the_walk_sees_imports_inside_functions():
    """carpipe.tier_counts imports its probes inside functions: they are seen (and are carpipe's own)."""
    from carpipe import tier_counts

    tree = ast.parse(open(tier_counts.__file__).read())
    inner = [n.module for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
             for n in ast.walk(f) if isinstance(n, ast.ImportFrom)]
    assert "carpipe.kafka_offsets" in inner and "carpipe.hdfs_counts" in inner
