"""PostgreSQL on disk: the account it runs as under root, the paths it needs, stale pid files."""

from __future__ import annotations

import dataclasses
import grp
import os
import pwd
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

from .base import Abort
from .output import say, shown
from .processes import is_within

PG_SYSTEM_USER = "kakehashi-pg"
# sun_path holds 108 bytes including the terminating NUL.
MAX_SOCKET_PATH = 107


@dataclasses.dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int


def pg_major_version(version_output: str) -> str:
    """The major version in `postgres --version` output: 18 for "postgres (PostgreSQL) 18.6"."""
    return version_output.split()[-1].split(".")[0]


def postmaster_pid_is_stale(data_dir: Path, cwd_of: Callable[[int], str | None]) -> bool:
    """Whether data_dir/postmaster.pid was left behind by a server that no longer runs.

    A live postmaster's working directory is its data directory. After a reboot or in a fresh
    container the recorded pid may belong to an unrelated process, which PostgreSQL would take for
    a running server; checking the cwd tells them apart.
    """
    try:
        first_line = (data_dir / "postmaster.pid").read_text().split("\n", 1)[0].strip()
    except FileNotFoundError:
        return False
    try:
        pid = abs(int(first_line))
    except ValueError:
        return True
    try:
        cwd = cwd_of(pid)
    except PermissionError:
        return False  # cannot tell; let PostgreSQL decide
    return cwd is None or not is_within(Path(cwd), data_dir)


def socket_path_fits(socket_dir: Path, port: int) -> bool:
    return len(os.fsencode(socket_dir / f".s.PGSQL.{port}")) <= MAX_SOCKET_PATH


def untraversable_dirs(path: Path) -> list[Path]:
    """`path` and its ancestors that other users cannot pass through, outermost first."""
    return [d for d in (*reversed(path.parents), path) if not d.stat().st_mode & stat.S_IXOTH]


def postgres_account() -> Account | None:
    """The unprivileged account PostgreSQL runs as when this runs as root (it refuses root)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        say(f"creating the system user {PG_SYSTEM_USER} to run PostgreSQL, which refuses root")
        try:
            grp.getgrnam(PG_SYSTEM_USER)
            group_option = ["--gid", PG_SYSTEM_USER]
        except KeyError:
            group_option = ["--user-group"]
        command = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]
        try:
            subprocess.run([*command, *group_option, PG_SYSTEM_USER], check=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise Abort(f"could not create the user {PG_SYSTEM_USER}: {exc}") from exc
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    return Account(PG_SYSTEM_USER, entry.pw_uid, entry.pw_gid)


def open_paths_to(account: Account, var_dir: Path, pg_install: Path) -> None:
    """Let `account` reach var/ and run the server binaries from the virtualenv."""
    # The checkout may sit below a 0700 directory (mktemp -d makes those), which the server
    # account could not pass through. Add o+x, and only where it is missing: execute-only lets
    # the account through by exact path without making any directory listable.
    for directory in sorted({*untraversable_dirs(var_dir), *untraversable_dirs(pg_install)}):
        say(f"adding o+x to {directory} so that {account.name} can reach {shown(var_dir)}")
        directory.chmod(directory.stat().st_mode | stat.S_IXOTH)
    # pip applies the umask; under a strict one the server could not read its own lib/ and share/.
    for dirpath, _, filenames in os.walk(pg_install):
        for path in (Path(dirpath), *(Path(dirpath, name) for name in filenames)):
            mode = path.lstat().st_mode
            wanted = mode | stat.S_IROTH
            if stat.S_ISDIR(mode) or mode & stat.S_IXUSR:
                wanted |= stat.S_IXOTH
            if stat.S_ISLNK(mode) or wanted == mode:
                continue
            path.chmod(wanted)


def chown_tree(root: Path, account: Account) -> None:
    for dirpath, _, filenames in os.walk(root):
        for path in (dirpath, *(os.path.join(dirpath, name) for name in filenames)):
            os.lchown(path, account.uid, account.gid)
