"""The seccomp-BPF filter every sandbox child runs under.

Built here, in the server, as bytes (an array of ``struct sock_filter``) and handed to the
launcher, which installs it just before ``execve``; the launcher stays mechanism, the policy
lives in one reviewable place. The filter is a deny list on top of the namespaces, so it is
what still stands where namespaces are not available:

- ``socket()`` for AF_INET, AF_INET6, AF_NETLINK and AF_PACKET fails with EPERM (no network,
  no routing or interface tricks); AF_UNIX stays, the runtimes use it internally.
- syscalls that create or enter namespaces, mount, trace other processes, load kernel code
  or expose large kernel attack surface (bpf, io_uring, userfaultfd, perf...) fail.
- ``setsid``/``setpgid`` fail, so every process of the run stays in the process group the
  launcher kills at the end.
- ``clone`` with namespace flags fails; ``clone3`` (whose flags BPF cannot read) reports
  ENOSYS, so libc falls back to ``clone``.
- a foreign audit arch (a 32-bit or x32 syscall on x86_64) kills the process.
"""

from __future__ import annotations

import errno
import platform
import struct

# BPF opcodes (linux/filter.h, linux/bpf_common.h)
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06

_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000

# struct seccomp_data offsets
_NR = 0
_ARCH = 4
_ARG0_LOW = 16  # little-endian: the low 32 bits of args[0]

_X32_SYSCALL_BIT = 0x40000000

_AF_INET, _AF_INET6, _AF_NETLINK, _AF_PACKET = 2, 10, 16, 17
_CLONE_NAMESPACE_FLAGS = (
    0x00020000  # CLONE_NEWNS
    | 0x02000000  # CLONE_NEWCGROUP
    | 0x04000000  # CLONE_NEWUTS
    | 0x08000000  # CLONE_NEWIPC
    | 0x10000000  # CLONE_NEWUSER
    | 0x20000000  # CLONE_NEWPID
    | 0x40000000  # CLONE_NEWNET
    | 0x00000080  # CLONE_NEWTIME
)

# Syscall numbers shared by every architecture (the unified table from 403 on).
_COMMON = {
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "clone3": 435,
    "mount_setattr": 442,
}

_ARCHES: dict[str, tuple[int, dict[str, int]]] = {
    "x86_64": (
        0xC000003E,
        {
            "socket": 41,
            "clone": 56,
            "ptrace": 101,
            "setpgid": 109,
            "setsid": 112,
            "pivot_root": 155,
            "chroot": 161,
            "mount": 165,
            "umount2": 166,
            "init_module": 175,
            "delete_module": 176,
            "kexec_load": 246,
            "add_key": 248,
            "request_key": 249,
            "keyctl": 250,
            "unshare": 272,
            "perf_event_open": 298,
            "name_to_handle_at": 303,
            "open_by_handle_at": 304,
            "setns": 308,
            "process_vm_readv": 310,
            "process_vm_writev": 311,
            "finit_module": 313,
            "kexec_file_load": 320,
            "bpf": 321,
            "userfaultfd": 323,
        },
    ),
    "aarch64": (
        0xC00000B7,
        {
            "socket": 198,
            "clone": 220,
            "ptrace": 117,
            "setpgid": 154,
            "setsid": 157,
            "pivot_root": 41,
            "chroot": 51,
            "mount": 40,
            "umount2": 39,
            "init_module": 105,
            "delete_module": 106,
            "kexec_load": 104,
            "add_key": 217,
            "request_key": 218,
            "keyctl": 219,
            "unshare": 97,
            "perf_event_open": 241,
            "name_to_handle_at": 264,
            "open_by_handle_at": 265,
            "setns": 268,
            "process_vm_readv": 270,
            "process_vm_writev": 271,
            "finit_module": 273,
            "kexec_file_load": 294,
            "bpf": 280,
            "userfaultfd": 282,
        },
    ),
}

# Answer ENOSYS where a runtime should fall back to an older call, EPERM elsewhere.
_ENOSYS_CALLS = frozenset({"clone3", "io_uring_setup", "io_uring_enter", "io_uring_register"})
_DENIED_CALLS = [
    "ptrace",
    "setpgid",
    "setsid",
    "pivot_root",
    "chroot",
    "mount",
    "umount2",
    "init_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "add_key",
    "request_key",
    "keyctl",
    "unshare",
    "perf_event_open",
    "name_to_handle_at",
    "open_by_handle_at",
    "setns",
    "process_vm_readv",
    "process_vm_writev",
    "finit_module",
    "bpf",
    "userfaultfd",
    *sorted(_COMMON),
]


def supported_arch(machine: str | None = None) -> bool:
    return (machine or platform.machine()) in _ARCHES


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def build_filter(machine: str | None = None) -> bytes:
    """The filter program for ``machine`` (default: this one) as ``sock_filter`` bytes.

    Raises ``ValueError`` for an architecture without a syscall table here; the launcher then
    runs without this layer and the sandbox says so.
    """
    machine = machine or platform.machine()
    if machine not in _ARCHES:
        raise ValueError(f"no seccomp syscall table for {machine}")
    audit_arch, table = _ARCHES[machine]
    numbers = {**table, **_COMMON}

    def deny(code: int) -> bytes:
        return _insn(_RET_K, 0, 0, _RET_ERRNO | code)

    prog = [
        _insn(_LD_W_ABS, 0, 0, _ARCH),
        _insn(_JEQ_K, 1, 0, audit_arch),
        _insn(_RET_K, 0, 0, _RET_KILL_PROCESS),
        _insn(_LD_W_ABS, 0, 0, _NR),
    ]
    if machine == "x86_64":
        prog += [_insn(_JGE_K, 0, 1, _X32_SYSCALL_BIT), _insn(_RET_K, 0, 0, _RET_KILL_PROCESS)]
    for name in _DENIED_CALLS:
        prog += [_insn(_JEQ_K, 0, 1, numbers[name]), deny(errno.ENOSYS if name in _ENOSYS_CALLS else errno.EPERM)]

    families = (_AF_INET, _AF_INET6, _AF_NETLINK, _AF_PACKET)
    socket_block = [_insn(_LD_W_ABS, 0, 0, _ARG0_LOW)]
    for family in families:
        socket_block += [_insn(_JEQ_K, 0, 1, family), deny(errno.EPERM)]
    socket_block.append(_insn(_RET_K, 0, 0, _RET_ALLOW))
    prog += [_insn(_JEQ_K, 0, len(socket_block), numbers["socket"]), *socket_block]

    clone_block = [
        _insn(_LD_W_ABS, 0, 0, _ARG0_LOW),
        _insn(_JSET_K, 0, 1, _CLONE_NAMESPACE_FLAGS),
        deny(errno.EPERM),
        _insn(_RET_K, 0, 0, _RET_ALLOW),
    ]
    prog += [_insn(_JEQ_K, 0, len(clone_block), numbers["clone"]), *clone_block]
    prog.append(_insn(_RET_K, 0, 0, _RET_ALLOW))
    return b"".join(prog)
