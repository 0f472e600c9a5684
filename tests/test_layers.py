"""The package's layers, read from its import statements: report -> analysis, audio -> sae, data ->
the top-level utilities, never the other way; no module imports the package's __init__."""
import ast
from pathlib import Path

import voicesae_core

PACKAGE = Path(voicesae_core.__file__).parent
UTIL = {"errors", "files", "arrays", "version", "device"}
ALLOWED = {  # layer -> the layers its modules may import
    "util": {"util"},
    "sae": {"sae", "util"},
    "data": {"data", "util"},
    "formats": {"formats", "sae", "util"},
    "analysis": {"analysis", "sae", "data", "util"},
    "audio": {"audio", "sae", "data", "util"},
    "report": {"report", "analysis", "audio", "formats", "sae", "data", "util"},
}


def layer_of(parts: list[str]) -> str:
    """The layer of a module given as its path inside the package, e.g. ['analysis', 'probe']."""
    return "util" if len(parts) == 1 and parts[0] in UTIL else parts[0]


def imports(path: Path, package: Path = PACKAGE) -> list[tuple[int, list[str]]]:
    """(line, target module as parts inside the package) for every import of the package in a file."""
    me = list(path.relative_to(package).with_suffix("").parts)
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = me[:-node.level] if node.level <= len(me) else None
                assert base is not None, f"{path}:{node.lineno}: relative import above the package"
                target = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "voicesae_core":
                target = node.module.split(".")[1:]
            else:
                continue
            names = [a.name for a in node.names]
            # `from . import probe`: each name is a module of that package (or a name in its __init__)
            if target and (package.joinpath(*target).is_dir()):
                out += [(node.lineno, target + [n]) for n in names]
            else:
                out.append((node.lineno, target))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name.split(".")[1:]) for a in node.names if a.name.split(".")[0] == "voicesae_core"]
    return out


def violations(package: Path = PACKAGE) -> list[str]:
    """Every import that goes up the layers or through the package's __init__, as 'file:line: why'."""
    bad = []
    for path in sorted(package.rglob("*.py")):
        rel = list(path.relative_to(package).with_suffix("").parts)
        if rel in (["__init__"], ["__main__"]):
            continue  # the public API and the command line sit above every layer
        mine = layer_of(rel if rel[-1] != "__init__" else rel[:-1])
        for line, target in imports(path, package):
            where = f"{path.relative_to(package.parent)}:{line}"
            is_module = target and ((package / f"{target[0]}.py").is_file() or (package / target[0]).is_dir())
            if not is_module:
                bad.append(f"{where}: imports the package's __init__")
            elif layer_of(target) not in ALLOWED[mine]:
                bad.append(f"{where}: {mine} imports {layer_of(target)} ({'.'.join(target)})")
    return bad


def test_every_import_goes_down_the_layers_and_none_goes_through_the_package_init():
    assert not violations(), "\n".join(violations())


def test_the_check_catches_an_upward_import_and_one_through_init(tmp_path):
    fake = tmp_path / "voicesae_core"
    (fake / "analysis").mkdir(parents=True)
    (fake / "audio").mkdir()
    (fake / "audio" / "clip.py").write_text("")
    (fake / "analysis" / "probe.py").write_text("from ..audio import clip\nfrom .. import VoicesaeError\n"
                                                "from voicesae_core.audio.clip import read\n")
    assert violations(fake) == ["voicesae_core/analysis/probe.py:1: analysis imports audio (audio.clip)",
                                "voicesae_core/analysis/probe.py:2: imports the package's __init__",
                                "voicesae_core/analysis/probe.py:3: analysis imports audio (audio.clip)"]


def test_the_public_api_is_re_exported():
    for name in ("SAEConfig", "TrainConfig", "expand_grid", "VoicesaeError", "Dataset", "load", "write_manifest",
                 "Metrics", "evaluate", "SAEOutput", "SparseAutoencoder", "GridResult", "train_grid", "train_sae"):
        assert hasattr(voicesae_core, name), name
    from importlib.metadata import version
    assert voicesae_core.__version__ == version("voicesae")
