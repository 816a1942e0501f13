"""The peers' virtualenvs, created on first use under ``bench/.venvs/`` and reused after.

Peers live outside the project's dependencies: graphon 0.8.0 needs Python >= 3.12 (on 3.11 pip
silently picks graphon 0.1.2, a different API) and pulls ~900 MB of packages the engine path
never loads. A venv is reused when its interpreter imports the pinned versions; otherwise it
is (re)created with the ordinary ``venv`` + ``pip`` from the configured package index.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

BENCH = Path(__file__).resolve().parent
VENVS = BENCH / ".venvs"


@dataclass(frozen=True)
class PeerVenv:
    name: str
    base_python: Path  # the interpreter the venv is created from
    requirements: tuple[str, ...]  # pinned "package==version" lines
    imports: str  # a statement that must succeed in the venv

    @property
    def path(self) -> Path:
        return VENVS / self.name

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


def _python312() -> Path:
    return Path(os.environ.get("PLAIT_BENCH_PYTHON312", Path.home() / ".pyenv/versions/3.12.1/bin/python3"))


def _python311() -> Path:
    # The project venv's own base interpreter (3.11), whatever venv runs this script.
    return Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"


GRAPHON = PeerVenv("graphon", _python312(), ("graphon==0.8.0",), "import graphon.engine, graphon.dsl")
# jinja2 pinned to the project's version so both Jinja2 renderers are the same code.
LANGGRAPH = PeerVenv(
    "langgraph", _python311(), ("langgraph==1.2.22", f"jinja2=={version('jinja2')}"), "import langgraph.graph, jinja2"
)


def _probe(venv: PeerVenv) -> bool:
    """True when the venv exists and imports the pinned versions."""
    if not venv.python.exists():
        return False
    pins = [line.split("==") for line in venv.requirements]
    check = "; ".join(
        [venv.imports, "from importlib.metadata import version as v"]
        + [f"assert v({name!r}) == {pin!r}, ({name!r}, v({name!r}))" for name, pin in pins]
    )
    return subprocess.run([venv.python, "-c", check], capture_output=True, check=False).returncode == 0


def ensure(venv: PeerVenv) -> Path:
    """The venv's python, creating the venv first if needed (idempotent). Raises on failure."""
    if _probe(venv):
        return venv.python
    if not venv.base_python.exists():
        raise FileNotFoundError(f"{venv.name}: base interpreter {venv.base_python} not found")
    print(f"# creating {venv.path.relative_to(BENCH.parent)} with {venv.base_python} ...", file=sys.stderr, flush=True)
    shutil.rmtree(venv.path, ignore_errors=True)
    subprocess.run([venv.base_python, "-m", "venv", venv.path], check=True)
    pip: list[str | Path] = [venv.python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *venv.requirements], check=True)
    if not _probe(venv):
        raise RuntimeError(f"{venv.name}: venv created but `{venv.imports}` fails or versions differ")
    return venv.python
