"""The sandbox launcher: puts one child behind every kernel boundary available, then execs it.

Run by the server as ``python -I -S isolation.py CONFIG_JSON`` (a fresh, single-threaded
interpreter: no ``preexec_fn`` in the threaded server, nothing of the server's state
inherited). Standard library only, and no ``plait`` import: this file runs outside the
server's package path. Each layer is tried in turn and skipped when the kernel or our
privileges refuse it; the layers actually in force are reported to the server as the
first line of the result channel, so the server can log a degraded sandbox and tests can
prove the strong path. Layers, in order of setup::

    userns      new user namespace (only when not root: it grants the rights for the rest)
    pidns       new PID namespace; its init reaps the runtime, and its exit kills every process
    netns       new network namespace: no interfaces but a down loopback
    ipcns       new System V IPC namespace
    mntns       new mount namespace whose root is a tmpfs holding read-only binds of the
                runtime (/usr, /lib*, the interpreter's prefix) and a small tmpfs /tmp;
                nothing else of the host (no /etc, /home, /proc, the server's files) exists
    rlimits     CPU, address space, data, processes, open files, file size, no core dumps
    uid         (root only) a fresh unprivileged uid/gid per run, no supplementary groups
    landlock    read only below the runtime paths, execute only the runtime and its loader,
                read/write only in the work dir,
                no TCP bind/connect (ABI 4+), no signals or abstract sockets out (ABI 6+)
    seccomp     the filter built by ``plait.sandbox.seccomp`` (sockets, namespaces, ...)

The launcher stays outside as the run's reaper: it enforces the wall-clock limit, and on
exit, timeout or SIGTERM it kills the child's whole process group. Exit status: the
child's, 128+N when signal N killed it, 124 on timeout, 125 when stopped by SIGTERM.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import platform
import resource
import select
import signal
import stat
import sys
import time
from typing import Any

RESULT_FD = 3
SCRATCH_DIR = "/tmp"  # noqa: S108 - inside the new root: a private tmpfs of this run alone
EXIT_TIMEOUT = 124
EXIT_STOPPED = 125
EXIT_SETUP_FAILED = 126

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC, MS_PRIVATE = 1024, 2048, 4096, 16384, 1 << 18
MS_RELATIME = 1 << 21
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_SECCOMP, PR_SET_NO_NEW_PRIVS = 1, 22, 38
SECCOMP_MODE_FILTER = 2
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446

# Landlock access rights by ABI version (linux/landlock.h).
LL_EXECUTE, LL_WRITE_FILE, LL_READ_FILE, LL_READ_DIR = 1, 2, 4, 8
LL_FILE_RIGHTS = LL_EXECUTE | LL_WRITE_FILE | LL_READ_FILE | (1 << 14) | (1 << 15)  # + truncate, ioctl_dev
LL_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
LL_NET_ALL = 0b11  # bind_tcp, connect_tcp (ABI 4)
LL_SCOPE_ALL = 0b11  # abstract unix sockets, signals (ABI 6)

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.unshare.argtypes = [ctypes.c_int]
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
libc.syscall.restype = ctypes.c_long


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = [None if v is None else v.encode() for v in (source, target, fstype, data)]
    _check(libc.mount(enc[0], enc[1], enc[2], flags, enc[3]), f"mount {target}")


def _unshare(flags: int) -> bool:
    return bool(libc.unshare(flags) == 0)


# --- namespaces -------------------------------------------------------------------------


def enter_user_and_pid_namespaces(layers: list[str]) -> None:
    """Before the fork: a PID namespace (and, unprivileged, the user namespace owning it)."""
    if os.geteuid() == 0:
        if _unshare(CLONE_NEWPID):
            layers.append("pidns")
        return
    uid, gid = os.geteuid(), os.getegid()
    if not _unshare(CLONE_NEWUSER):
        return
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"{uid} {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"{gid} {gid} 1")
    layers.append("userns")
    if _unshare(CLONE_NEWPID):
        layers.append("pidns")


def enter_child_namespaces(layers: list[str]) -> None:
    for flag, name in ((CLONE_NEWNET, "netns"), (CLONE_NEWIPC, "ipcns"), (CLONE_NEWUTS, "utsns")):
        if _unshare(flag):
            layers.append(name)


def _mount_flags_of(path: str) -> int:
    """Flags of the mount holding ``path`` that a bind remount must keep (locked in a userns)."""
    flag = os.statvfs(path).f_flag
    pairs = (
        (os.ST_NOSUID, MS_NOSUID),
        (os.ST_NODEV, MS_NODEV),
        (os.ST_NOEXEC, MS_NOEXEC),
        (os.ST_NOATIME, MS_NOATIME),
        (os.ST_NODIRATIME, MS_NODIRATIME),
        (os.ST_RELATIME, MS_RELATIME),
    )
    return sum(ms for st, ms in pairs if flag & st)


def _bind(source: str, target: str, *, writable: bool = False, device: bool = False) -> None:
    _mount(source, target, None, MS_BIND)
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | _mount_flags_of(source)
    flags |= 0 if writable else MS_RDONLY
    flags |= MS_NOEXEC if device else MS_NODEV
    _mount(None, target, None, flags)


def build_root(config: dict[str, Any], layers: list[str]) -> bool:
    """A new mount namespace whose root holds only the runtime, read-only, and a tmpfs /tmp."""
    if not _unshare(CLONE_NEWNS):
        return False
    root = config["root"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=4096,mode=0755")
    for path in config["binds"]:
        if not os.path.lexists(path):
            continue
        inside = root + path
        os.makedirs(os.path.dirname(inside), exist_ok=True)
        if os.path.islink(path):  # merged /usr: /lib -> usr/lib
            os.symlink(os.readlink(path), inside)
        elif os.path.isdir(path):
            os.makedirs(inside, exist_ok=True)
            _bind(path, inside)
        else:
            open(inside, "w").close()
            _bind(path, inside, writable=stat.S_ISCHR(os.stat(path).st_mode), device=path.startswith("/dev/"))
    scratch = root + SCRATCH_DIR
    os.makedirs(scratch, exist_ok=True)
    options = f"size={config['scratch_bytes']},nr_inodes=1024,mode=1777"
    _mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options)
    os.chdir(root)
    _check(libc.syscall(SYS_PIVOT_ROOT[platform.machine()], b".", b"."), "pivot_root")
    _check(libc.umount2(b".", MNT_DETACH), "umount old root")
    os.chdir("/")
    _mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    layers.append("mntns")
    return True


# --- limits, identity, landlock, seccomp --------------------------------------------------


def set_rlimits(config: dict[str, Any], layers: list[str]) -> None:
    for name, (soft, hard) in config["rlimits"].items():
        which = getattr(resource, name)
        current = resource.getrlimit(which)[1]
        if current != resource.RLIM_INFINITY and os.geteuid() != 0:  # unprivileged: never above our own
            soft, hard = min(soft, current), min(hard, current)
        resource.setrlimit(which, (soft, hard))
    layers.append("rlimits")


def drop_privileges(config: dict[str, Any], layers: list[str]) -> None:
    """As root: the run's own uid (so runs share no process budget), else nobody, else stay."""
    if os.geteuid() != 0:
        return
    os.setgroups([])
    for uid in (config.get("uid"), 65534):
        if uid is None:
            continue
        try:
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        except OSError:  # root in a user namespace that does not map this id
            continue
        layers.append("uid")
        return


def apply_landlock(read_paths: list[str], exec_paths: list[str], write_paths: list[str], layers: list[str]) -> None:
    abi = libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 1:
        return
    handled_fs = LL_FS_BY_ABI.get(abi, LL_FS_BY_ABI[5])
    attr = (ctypes.c_uint64 * 3)(handled_fs, LL_NET_ALL if abi >= 4 else 0, LL_SCOPE_ALL if abi >= 6 else 0)
    ruleset = _check(
        libc.syscall(SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)), 0),
        "landlock_create_ruleset",
    )

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    # Execute only the runtime and its loader: no shell, no other binaries, even read-only ones.
    rules = (
        (read_paths, LL_READ_FILE | LL_READ_DIR),
        (exec_paths, LL_EXECUTE | LL_READ_FILE),
        (write_paths, handled_fs & ~LL_EXECUTE),
    )
    for paths, allowed in rules:
        for path in paths:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            rights = allowed & handled_fs
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                rights &= LL_FILE_RIGHTS
                rights |= LL_WRITE_FILE if path.startswith("/dev/") else 0
            rule = PathBeneath(rights, fd)
            _check(libc.syscall(SYS_LANDLOCK_ADD_RULE, ruleset, 1, ctypes.byref(rule), 0), f"landlock rule {path}")
            os.close(fd)
    _check(libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0), "landlock_restrict_self")
    os.close(ruleset)
    layers.append("landlock")
    if abi >= 4:
        layers.append("landlock-net")


def apply_seccomp(program: bytes, layers: list[str]) -> None:
    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buffer = ctypes.create_string_buffer(program, len(program))
    prog = SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    _check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0), "seccomp")
    layers.append("seccomp")


# --- the run ----------------------------------------------------------------------------


def child(config: dict[str, Any], layers: list[str]) -> None:
    """In the new PID namespace: finish isolating, then run the runtime in a child. Never returns."""
    os.setpgid(0, 0)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, None, 0, 0)
    enter_child_namespaces(layers)
    try:
        pivoted = build_root(config, layers)
    except OSError:
        pivoted = False  # our own private mount namespace: a half-built root harms nobody
    workdir = SCRATCH_DIR if pivoted else config["workdir"]
    os.chdir(workdir)
    set_rlimits(config, layers)
    drop_privileges(config, layers)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, None, 0, 0)  # cleared by the uid change
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0), "no_new_privs")
    try:
        apply_landlock(config["read_paths"], config["exec_paths"], [workdir], layers)
    except OSError as exc:
        print(f"plait-sandbox: landlock unavailable: {exc}", file=sys.stderr)
    if config.get("seccomp"):
        apply_seccomp(bytes.fromhex(config["seccomp"]), layers)
    os.dup2(1, RESULT_FD, inheritable=True)  # the result channel only the runtime knows of
    os.dup2(2, 1)  # user prints land with the logs
    os.write(RESULT_FD, json.dumps({"layers": layers}).encode() + b"\n")
    if config.get("probe"):
        os._exit(0)
    env = dict(config["env"], HOME=workdir, TMPDIR=workdir)
    runtime = os.fork()
    if runtime == 0:
        os.execve(config["argv"][0], config["argv"], env)  # noqa: S606 - the runtime, fixed argv
    # This process stays as the (fully isolated) init of the PID namespace and only reaps: the
    # kernel ignores SIGXCPU sent to an init, so the runtime must not be one.
    status = os.waitpid(runtime, 0)[1]
    os._exit(128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))


def _wait(pid: int, deadline: float) -> bool:
    """Wait for ``pid`` to exit without reaping it; False on timeout."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        pidfd = -1
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        if pidfd >= 0:
            if select.select([pidfd], [], [], remaining)[0]:
                return True
        else:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
            time.sleep(0.005)


def _stop(signum: int, frame: object) -> None:
    raise InterruptedError


def main() -> int:
    config = json.loads(sys.argv[1])
    deadline = time.monotonic() + config["wall_seconds"]
    layers: list[str] = []
    enter_user_and_pid_namespaces(layers)
    signal.signal(signal.SIGTERM, _stop)
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            child(config, layers)
        except BaseException as exc:
            print(f"plait-sandbox: setup failed: {exc!r}", file=sys.stderr)
        os._exit(EXIT_SETUP_FAILED)
    verdict: int | None = None
    try:
        if not _wait(pid, deadline):
            verdict = EXIT_TIMEOUT
    except InterruptedError:
        verdict = EXIT_STOPPED
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if verdict is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)  # the zombie still holds the group id: no reuse race
    status = os.waitpid(pid, 0)[1]
    if verdict is not None:
        return verdict
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(main())
