"""scripts/devstack/: the pieces of `make run` / `make test` that need no running servers."""

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import polib
import pytest

from scripts.devstack.base import REPO, Abort
from scripts.devstack.cli import main
from scripts.devstack.environment import (
    RESERVED_PORTS,
    child_environment,
    database_url,
    development_defaults,
    env_file_text,
    load_or_create_secret_key,
    pick_free_port,
    port_is_free,
    redis_url,
    server_environment,
    shared_settings,
    wanted_services,
    web_port,
    write_private_file,
)
from scripts.devstack.output import tail
from scripts.devstack.postgres import (
    pg_major_version,
    postmaster_pid_is_stale,
    socket_path_fits,
    untraversable_dirs,
)
from scripts.devstack.processes import (
    ProcessInfo,
    RegistryEntry,
    format_registry,
    group_alive,
    leftover_processes,
    mentions_path,
    parse_registry,
    scan_processes,
)
from scripts.devstack.stack import Profile, Stack
from scripts.devstack.translations import compile_translations, stale_catalogues


def profile_in(tmp_path: Path) -> Profile:
    return Profile(
        "unit",
        tmp_path / "postgres",
        tmp_path / "redis",
        durable=False,
        wait_when_busy=False,
        run_dir=tmp_path / "run",
    )


def sleeper_in_repo() -> subprocess.Popen[bytes]:
    """A process that works in the checkout, in a session of its own, as the stack's children do."""
    return subprocess.Popen(["sleep", "60"], cwd=REPO, start_new_session=True)


# Ports, URLs and environments.


def test_it_skips_the_machines_postgresql_and_redis_ports():
    offered = iter([5432, 6379, 41234])

    assert pick_free_port(bind=lambda: next(offered)) == 41234


def test_it_gives_up_when_no_usable_port_comes_back():
    with pytest.raises(Abort):
        pick_free_port(bind=lambda: 5432, attempts=3)


def test_it_picks_a_free_unreserved_port():
    port = pick_free_port()

    assert port not in RESERVED_PORTS
    assert port_is_free(port)


def test_it_reads_the_web_port_from_port():
    assert web_port({}) == 8000
    assert web_port({"PORT": ""}) == 8000
    assert web_port({"PORT": "8123"}) == 8123
    for bad in ("eighty", "0", "70000"):
        with pytest.raises(Abort):
            web_port({"PORT": bad})


def test_it_builds_the_service_urls():
    assert database_url(40001) == "postgres://postgres@127.0.0.1:40001/kakehashi"
    assert redis_url(40002) == "redis://127.0.0.1:40002/0"


def test_it_starts_only_the_servers_the_environment_does_not_name():
    assert wanted_services({}) == ["DATABASE_URL", "REDIS_URL"]
    assert wanted_services({"DATABASE_URL": "postgres://db/x"}) == ["REDIS_URL"]
    assert wanted_services({"REDIS_URL": "redis://r/1", "DATABASE_URL": ""}) == ["DATABASE_URL"]
    both = {"DATABASE_URL": "postgres://db/x", "REDIS_URL": "redis://r/1"}
    assert wanted_services(both) == []


def test_it_defaults_debug_secret_key_and_base_url():
    defaults = development_defaults(
        {}, secret_key=lambda: "k" * 60, base_url="http://127.0.0.1:8000"
    )

    assert defaults == {
        "DEBUG": "true",
        "SECRET_KEY": "k" * 60,
        "KAKEHASHI_BASE_URL": "http://127.0.0.1:8000",
    }


def test_it_leaves_settings_from_the_environment_alone():
    def no_key() -> str:
        raise AssertionError("the key file must not be touched when SECRET_KEY is set")

    environ = {"DEBUG": "false", "SECRET_KEY": "", "KAKEHASHI_BASE_URL": "https://k.example"}

    assert development_defaults(environ, secret_key=no_key, base_url="http://x") == {}


def test_it_builds_the_child_environment_without_touching_its_own():
    environ = {"PATH": "/usr/bin", "DATABASE_URL": "postgres://old/x", "HOME": "/root"}

    env = child_environment(
        environ, {"DATABASE_URL": "postgres://new/y"}, bin_dir=Path("/venv/bin")
    )

    assert env["DATABASE_URL"] == "postgres://new/y"
    assert env["HOME"] == "/root"
    assert env["PATH"] == f"/venv/bin{os.pathsep}/usr/bin"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert environ["DATABASE_URL"] == "postgres://old/x"


def test_it_keeps_the_app_environment_away_from_the_servers():
    env = server_environment({"PATH": "/bin", "SECRET_KEY": "s", "TZ": "Asia/Tokyo"})

    assert env == {"PATH": "/bin", "LC_ALL": "C", "TZ": "Asia/Tokyo"}


def test_it_creates_the_secret_key_once_and_keeps_it_private(tmp_path):
    path = tmp_path / "var" / "secret_key"

    first = load_or_create_secret_key(path)
    second = load_or_create_secret_key(path)

    assert first == second
    assert len(first) >= 50
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_it_shares_the_services_and_development_settings_with_other_terminals():
    env = {
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/kakehashi",
        "REDIS_URL": "redis://127.0.0.1:2/0",
        "DEBUG": "true",
        "SECRET_KEY": "k",
        "HOME": "/root",
        "PATH": "/bin",
    }

    assert list(shared_settings(env)) == [
        "DATABASE_URL",
        "REDIS_URL",
        "DEBUG",
        "SECRET_KEY",
    ]


def test_it_writes_the_env_file_for_manage_py_in_another_terminal(tmp_path):
    path = tmp_path / "env"
    urls = {"DATABASE_URL": "postgres://postgres@127.0.0.1:1/kakehashi", "REDIS_URL": "redis://r"}

    write_private_file(path, env_file_text(urls))

    assert path.read_text() == (
        "DATABASE_URL=postgres://postgres@127.0.0.1:1/kakehashi\nREDIS_URL=redis://r\n"
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# Translations.


def write_catalogue(path: Path, translation: str) -> None:
    catalogue = polib.POFile()
    catalogue.metadata = {"Content-Type": "text/plain; charset=UTF-8"}
    catalogue.append(polib.POEntry(msgid="Organisation", msgstr=translation))
    path.parent.mkdir(parents=True, exist_ok=True)
    catalogue.save(str(path))


def test_it_compiles_missing_and_outdated_catalogues_only(tmp_path):
    po = tmp_path / "ja" / "LC_MESSAGES" / "django.po"
    write_catalogue(po, "組織")

    assert compile_translations(tmp_path) == [po.with_suffix(".mo")]
    assert polib.mofile(str(po.with_suffix(".mo"))).find("Organisation").msgstr == "組織"
    assert compile_translations(tmp_path) == []

    write_catalogue(po, "団体")
    later = po.with_suffix(".mo").stat().st_mtime + 10
    os.utime(po, (later, later))

    assert stale_catalogues(tmp_path) == [(po, po.with_suffix(".mo"))]


# Leftover processes.


def test_it_recognises_paths_inside_the_checkout_only():
    root = Path("/srv/kakehashi")

    assert mentions_path("/srv/kakehashi", root)
    assert mentions_path("/srv/kakehashi/var/postgres", root)
    assert mentions_path("--dir=/srv/kakehashi/var/redis", root)
    assert not mentions_path("/srv/kakehashi-old/var", root)
    assert not mentions_path("/mnt/srv/kakehashi/var", root)
    assert not mentions_path("/srv", root)


def test_it_finds_leftovers_by_cwd_or_command_line_and_group():
    root = Path("/srv/kakehashi")
    processes = [
        ProcessInfo(10, 10, "/srv/kakehashi", ("python", "manage.py", "runserver")),
        ProcessInfo(11, 10, "/srv/kakehashi/var/redis", ("redis-server 127.0.0.1:4000",)),
        ProcessInfo(20, 20, None, ("/srv/kakehashi/.venv/bin/postgres", "-D", "var/postgres")),
        ProcessInfo(30, 30, "/home/someone", ("vim", "notes.txt")),
        ProcessInfo(40, 40, "/srv/kakehashi-old", ("sleep", "9")),
    ]

    assert [p.pid for p in leftover_processes(processes, root)] == [10, 11, 20]
    assert [p.pid for p in leftover_processes(processes, root, groups={10})] == [10, 11]
    assert [p.pid for p in leftover_processes(processes, root, exclude={10})] == [11, 20]


def test_it_sees_a_live_process_working_in_a_directory(tmp_path):
    process = subprocess.Popen(["sleep", "30"], cwd=tmp_path, start_new_session=True)
    try:
        found = leftover_processes(scan_processes(), tmp_path)
        assert [(p.pid, p.pgid) for p in found] == [(process.pid, process.pid)]
    finally:
        process.kill()
        process.wait()

    assert leftover_processes(scan_processes(), tmp_path) == []


def test_it_round_trips_the_registry_and_skips_torn_lines():
    entries = [
        RegistryEntry("postgres", 100, signal.SIGINT, whole_group=False),
        RegistryEntry("worker", 200, signal.SIGTERM, whole_group=True),
    ]

    text = format_registry(entries) + "300 15"

    assert parse_registry(text) == entries


def test_it_stops_children_an_earlier_run_left_behind(tmp_path):
    profile = profile_in(tmp_path)
    leftover = sleeper_in_repo()
    entry = RegistryEntry("web", leftover.pid, signal.SIGTERM, whole_group=True)
    write_private_file(profile.registry_file, format_registry([entry]))

    with Stack(profile):
        assert leftover.wait(timeout=10) == -signal.SIGTERM

    assert not profile.registry_file.exists()


def test_it_leaves_alone_a_reused_group_id_outside_the_checkout(tmp_path):
    profile = profile_in(tmp_path)
    stranger = subprocess.Popen(["sleep", "60"], cwd=tmp_path, start_new_session=True)
    entry = RegistryEntry("web", stranger.pid, signal.SIGTERM, whole_group=True)
    write_private_file(profile.registry_file, format_registry([entry]))
    try:
        with Stack(profile):
            assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_it_stops_a_childs_whole_process_group(tmp_path):
    with Stack(profile_in(tmp_path)) as stack:
        child = stack.spawn(
            "shell", ["sh", "-c", "sleep 60 & sleep 60"], env=os.environ, output=tmp_path / "log"
        )
        time.sleep(0.3)
        assert group_alive(child.pgid)

    assert not group_alive(child.pgid)


def test_it_kills_a_child_that_ignores_the_stop_signal(tmp_path):
    with Stack(profile_in(tmp_path)) as stack:
        child = stack.spawn(
            "stubborn",
            ["sh", "-c", "trap '' TERM; sleep 60"],
            env=os.environ,
            output=tmp_path / "log",
            stop_timeout=0.5,
        )
        time.sleep(0.3)
        stack.stop(child)

    assert child.proc.returncode == -signal.SIGKILL
    assert not group_alive(child.pgid)


def test_it_returns_a_foreground_commands_exit_code(tmp_path):
    with Stack(profile_in(tmp_path)) as stack:
        assert stack.run_foreground("exit", ["sh", "-c", "exit 3"], env=os.environ) == 3
        assert stack.children == []


def test_it_refuses_a_second_run_of_the_same_profile_and_leaves_the_first_alone(tmp_path):
    profile = profile_in(tmp_path)
    with Stack(profile) as first:
        first.spawn("sleeper", ["sleep", "60"], env=os.environ, output=tmp_path / "log")
        handler = signal.getsignal(signal.SIGTERM)

        with pytest.raises(Abort, match="already running"), Stack(profile):
            pass

        assert profile.registry_file.exists()
        assert signal.getsignal(signal.SIGTERM) == handler


def test_it_restores_the_signal_handlers_it_replaced(tmp_path):
    before = signal.getsignal(signal.SIGTERM)

    with Stack(profile_in(tmp_path)):
        assert signal.getsignal(signal.SIGTERM) != before

    assert signal.getsignal(signal.SIGTERM) == before


# PostgreSQL on disk.


def test_it_reads_the_major_version():
    assert pg_major_version("postgres (PostgreSQL) 18.6\n") == "18"


def test_it_tells_a_stale_postmaster_pid_from_a_live_one(tmp_path):
    pid_file = tmp_path / "postmaster.pid"
    cwds = {111: str(tmp_path), 222: "/"}

    def cwd_of(pid: int) -> str | None:
        if pid == 333:
            raise PermissionError
        return cwds.get(pid)

    assert not postmaster_pid_is_stale(tmp_path, cwd_of)  # no file at all
    for content, stale in [
        ("111\n/data\n", False),  # the server is running
        ("222\n/data\n", True),  # the pid now belongs to another process
        ("444\n/data\n", True),  # nothing has that pid
        ("333\n/data\n", False),  # cannot tell: PostgreSQL decides
        ("garbage\n", True),
    ]:
        pid_file.write_text(content)
        assert postmaster_pid_is_stale(tmp_path, cwd_of) is stale, content


def test_it_checks_the_unix_socket_path_length():
    assert socket_path_fits(Path("/srv/kakehashi/var/run/postgres"), 54321)
    assert not socket_path_fits(Path("/" + "d" * 100), 54321)


def test_it_lists_directories_other_users_cannot_pass(tmp_path):
    locked = tmp_path / "locked"
    inner = locked / "checkout" / "var"
    inner.mkdir(parents=True)
    for directory in (tmp_path, locked, inner.parent, inner):
        directory.chmod(0o755)
    locked.chmod(0o700)

    # pytest's own base directory may be 0700 too, so compare against what is above tmp_path.
    assert untraversable_dirs(inner) == [*untraversable_dirs(tmp_path), locked]


def test_it_shows_only_the_log_written_since_the_start(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("old run\n")
    offset = log.stat().st_size
    with log.open("a") as stream:
        stream.write("FATAL: lock file exists\n")

    assert tail(log, offset) == "    FATAL: lock file exists"


# The command line.


def test_it_prints_usage_for_unknown_or_incomplete_commands(capsys):
    assert main(["frobnicate"]) == 2
    assert main(["exec", "--"]) == 2
    assert main(["run", "extra"]) == 2
    err = capsys.readouterr().err
    assert "python -m scripts.devstack COMMAND" in err
    assert "exec -- COMMAND" in err


def test_it_runs_as_a_module_with_only_the_standard_library():
    result = subprocess.run(
        [sys.executable, "-S", "-m", "scripts.devstack", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "bootstrap-pip" in result.stdout
