"""pghaul as people install it: the wheel and sdist `python -m build` makes, the wheel alone in a fresh venv, and
the Dockerfile (linted, and its install steps replayed in a clean venv: CI cannot pull the base image, so the image
itself is never built here).

The slow tests install from the package index as pip resolves it, the way a user's `pip install` or the image's
build does; what pip is configured with on this machine (its index, mirrors) applies unchanged.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import pytest
from typer.testing import CliRunner

import pghaul
from pghaul.cli import app

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "pghaul"
DOCKERFILE = REPO / "Dockerfile"

# The data files the package reads at run time, by what reads them: the catalog queries (pghaul.inspect), the page
# (pghaul.http.page) and the demo's sample database (pghaul.sample).
DATA_FILES = ("inspect/sql/*.sql", "http/static/*", "sample/*.sql")

# A fresh venv's pip installs pghaul and its dependencies from the index; the demo starts two embedded servers.
INSTALL_TIMEOUT = 600
DEMO_TIMEOUT = 300
SERVE_START_TIMEOUT = 60.0


# ---- reading the Dockerfile ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    name: str  # FROM, RUN, ... (upper case)
    args: str  # the rest of the logical line, continuations joined


def dockerfile_instructions(text: str) -> list[Instruction]:
    """The Dockerfile's instructions in order: comments dropped, backslash continuations joined."""
    out: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # also between continued lines, as Docker does
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        name, _, args = (pending + line).partition(" ")
        out.append(Instruction(name.upper(), args.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return out


def env_pairs(args: str) -> dict[str, str]:
    """ENV in the KEY=value form (the legacy `ENV KEY value` form is not used here: hadolint would say so)."""
    pairs = {}
    for word in shlex.split(args):
        key, sep, value = word.partition("=")
        assert sep, f"ENV {args!r}: use KEY=value"
        pairs[key] = value
    return pairs


def exec_form(args: str) -> list[str]:
    assert args.startswith("["), f"{args!r}: use the exec form, [\"cmd\", \"arg\"] (a signal reaches the server)"
    command = json.loads(args)
    assert isinstance(command, list) and all(isinstance(part, str) for part in command)
    return command


def instructions(name: str) -> list[Instruction]:
    return [i for i in dockerfile_instructions(DOCKERFILE.read_text()) if i.name == name]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in instructions("ENV"):
        env.update(env_pairs(instruction.args))
    return env


def healthcheck_command() -> list[str]:
    (healthcheck,) = instructions("HEALTHCHECK")
    _options, sep, command = healthcheck.args.partition("CMD ")
    assert sep, "HEALTHCHECK must run a command"
    return exec_form(command)


def start_command() -> list[str]:
    (cmd,) = instructions("CMD")
    return exec_form(cmd.args)


# Which RUN steps install pghaul (replayed in CI) and which only prepare the image (checked, not run: creating users
# on the machine that runs the tests is no part of a test).
INSTALL_STEP = re.compile(r"^(pip|python -m pip) install ")
USER_STEP = re.compile(r"^groupadd --gid (?P<gid>\d+) (?P<group>\w+) && useradd .*--uid (?P<uid>\d+) .*--gid (?P=gid) ")


def dockerignore_allows(path: str) -> bool:
    """Whether the build context has ``path`` under .dockerignore's rules (last match wins; `*` then `!` exceptions
    is the only shape this repository uses)."""
    allowed = True
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        rule = raw.strip()
        if not rule or rule.startswith("#"):
            continue
        negate = rule.startswith("!")
        pattern = rule.lstrip("!").rstrip("/")
        if fnmatch(path, pattern) or path.startswith(pattern + "/"):
            allowed = negate
    return allowed


# ---- the fast checks ----------------------------------------------------------------------------------------------


def test_version_lives_in_one_place() -> None:
    """pyproject reads the version from pghaul.__version__, and `pghaul --version` prints the same."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "pghaul.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", pghaul.__version__)

    result = CliRunner().invoke(app, ["--version"], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.output.strip() == f"pghaul {pghaul.__version__}"


def test_license_is_declared_the_modern_way() -> None:
    """An SPDX expression and the file it names (PEP 639), and a build backend that reads them: no deprecated
    `license = {text = ...}` table, no license classifier."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"
    assert project["project"]["license-files"] == ["LICENSE"]
    assert "MIT License" in (REPO / "LICENSE").read_text()
    assert not [c for c in project["project"].get("classifiers", []) if c.startswith("License ::")]
    assert project["build-system"]["requires"] == ["setuptools>=77"]  # 77: the first that reads both


def test_dockerfile_lints_clean() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    assert hadolint.exists(), "hadolint is missing: it comes with the test extras (pip install -e '.[test]')"
    result = subprocess.run([str(hadolint), "--no-color", str(DOCKERFILE)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_dockerfile_shape() -> None:
    """Small base, a non-root numeric user created in the image, `pghaul serve` on $PORT, a health check, and a
    build context with nothing but what the install needs."""
    (base,) = instructions("FROM")
    assert re.fullmatch(r"python:3\.\d+-slim", base.args), base.args
    runs = [i.args for i in instructions("RUN")]
    assert all(INSTALL_STEP.match(run) or USER_STEP.match(run) for run in runs), runs
    (user_step,) = [m for m in map(USER_STEP.match, runs) if m]
    (user,) = instructions("USER")
    assert user.args == f"{user_step['uid']}:{user_step['gid']}"
    assert int(user_step["uid"]) != 0

    assert start_command() == ["pghaul", "serve"]
    env = image_env()
    (expose,) = instructions("EXPOSE")
    assert expose.args == env["PORT"]  # set, so `pghaul serve` listens on every interface (pghaul.http.server)
    assert "/healthz" in " ".join(healthcheck_command())

    for copy in instructions("COPY"):
        *sources, _dest = shlex.split(copy.args)
        for source in sources:
            assert dockerignore_allows(source), f"COPY {source}: .dockerignore leaves it out of the build context"
    for private in (".env", ".git", ".venv", "tests", "benchmarks", "src/pghaul/__pycache__"):
        assert not dockerignore_allows(private), private


# ---- running what was installed -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clean_env(venv: Path) -> dict[str, str]:
    """This process's environment with ``venv`` first on PATH and nothing pointing back into the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    return env


def _new_venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=120)
    return path


def _deploy_variables() -> dict[str, str]:
    """The four variables a deploy sets. The databases are unreachable on purpose: the server must start, and its
    health check answer, whatever state the databases are in."""
    closed = _free_port()
    return {
        "DATABASE_URL": f"postgresql://app:pw@127.0.0.1:{closed}/old",
        "NEW_DATABASE_URL": f"postgresql://app:pw@127.0.0.1:{closed}/new",
        "MIGRATION_SECRET": secrets.token_urlsafe(32),
        "ALLOW_DB_MIGRATION": "true",
    }


def _get_json(url: str) -> tuple[int, object]:
    with urllib.request.urlopen(url, timeout=5) as reply:
        return reply.status, json.loads(reply.read())


@contextmanager
def _serving(command: list[str], env: dict[str, str], cwd: Path) -> Iterator[int]:
    """``command`` (a `pghaul serve`) running with PORT set to a free port, as a platform runs it; yields the port
    once /healthz answers, and stops the server (SIGTERM, as platforms do) afterwards."""
    port = _free_port()
    env = {**env, "PORT": str(port)}
    log = cwd / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + SERVE_START_TIMEOUT
        while True:
            assert server.poll() is None, f"the server exited ({server.returncode}):\n{log.read_text()}"
            try:
                _get_json(f"http://127.0.0.1:{port}/healthz")
                break
            except urllib.error.HTTPError:
                break  # up; what it answered is for the test to check
            except OSError:  # not listening yet (URLError is an OSError)
                assert time.monotonic() < deadline, f"/healthz did not answer:\n{log.read_text()}"
                time.sleep(0.2)
        yield port
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    # uvicorn shuts down, then re-raises the signal it handled: -SIGTERM is a clean stop when the log says so.
    stopped = server.returncode in (0, -signal.SIGTERM) and "Application shutdown complete" in log.read_text()
    assert stopped, f"the server did not stop cleanly ({server.returncode}):\n{log.read_text()}"


def _check_health(port: int) -> None:
    assert _get_json(f"http://127.0.0.1:{port}/healthz") == (200, {"status": "ok", "version": pghaul.__version__})


def _run(command: list[str], env: dict[str, str], cwd: Path, timeout: float) -> str:
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{shlex.join(command)} exited {result.returncode}:\n{output}"
    return output


# ---- the Dockerfile's install, replayed -----------------------------------------------------------------------------


def _copy_into(source: Path, dest: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, dest, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest)


@pytest.mark.slow
def test_dockerfile_install_replayed_in_a_clean_venv(tmp_path: Path) -> None:
    """Every install step of the Dockerfile, in order, in a fresh venv standing for the image's Python: its ENV,
    WORKDIR, COPY (what the build context holds) and `RUN pip ...` lines. Then the image's CMD serves, and its
    HEALTHCHECK command succeeds against it with the image's environment."""
    (base,) = instructions("FROM")
    image_python = base.args.removeprefix("python:").removesuffix("-slim")
    assert image_python == f"{sys.version_info.major}.{sys.version_info.minor}", (
        f"the image runs Python {image_python}: replay with that version"
    )
    venv = _new_venv(tmp_path / "image-python")
    root = tmp_path / "image"
    workdir = root
    env = _clean_env(venv)
    replayed = []
    for instruction in dockerfile_instructions(DOCKERFILE.read_text()):
        if instruction.name == "ENV":
            env.update(env_pairs(instruction.args))
        elif instruction.name == "WORKDIR":
            workdir = root / instruction.args.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction.name == "COPY":
            *sources, dest = shlex.split(instruction.args)
            target = workdir / dest
            for source in sources:
                assert dockerignore_allows(source), source
                _copy_into(REPO / source, target / Path(source).name if dest.endswith("/") else target)
        elif instruction.name == "RUN" and INSTALL_STEP.match(instruction.args):
            _run(["/bin/sh", "-c", instruction.args], env, workdir, INSTALL_TIMEOUT)
            replayed.append(instruction.args)
    assert replayed, "the Dockerfile installs nothing"

    # As in the image: started from the user's home, not the build directory, with the four variables a deploy sets.
    home = tmp_path / "home"
    home.mkdir()
    assert _run(["pghaul", "--version"], env, home, 60).strip() == f"pghaul {pghaul.__version__}"
    serve_env = {**env, **_deploy_variables()}
    with _serving(start_command(), serve_env, home) as port:
        _check_health(port)
        _run(healthcheck_command(), {**serve_env, "PORT": str(port)}, home, 30)


# ---- the wheel, alone in a fresh venv -------------------------------------------------------------------------------


def _package_data_in_repository() -> set[str]:
    """Every data file the package has in the checkout, as a path inside the wheel (pghaul/...)."""
    found = set()
    for pattern in DATA_FILES:
        for path in PACKAGE.glob(pattern):
            if path.is_file():
                found.add(f"pghaul/{path.relative_to(PACKAGE).as_posix()}")
    return found


@pytest.mark.slow
def test_wheel_alone_runs_version_demo_and_serve(tmp_path: Path) -> None:
    """`python -m build` makes an sdist and a wheel without a warning; both carry the SQL files, the page, the sample
    data and the license; a fresh venv with only the wheel (and what pip resolves for it) runs `pghaul --version`,
    `pghaul demo` to a verified end, and `pghaul serve`, whose /healthz answers."""
    dist = tmp_path / "dist"
    build_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    built = subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(REPO)], env=build_env,
                           capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False)
    log = built.stdout + built.stderr
    assert built.returncode == 0, log
    # PYTHONDONTWRITEBYTECODE (set here) makes setuptools say it does not byte-compile: not a problem of the project.
    problems = [line for line in log.splitlines()
                if re.search(r"(?i)warn|deprecat", line) and "byte-compiling is disabled" not in line]
    assert not problems, "\n".join(problems)

    version = pghaul.__version__
    (wheel,) = dist.glob(f"pghaul-{version}-py3-none-any.whl")
    (sdist,) = dist.glob(f"pghaul-{version}.tar.gz")
    data = _package_data_in_repository()
    assert {"pghaul/http/static/migrate.html", "pghaul/sample/schema.sql", "pghaul/inspect/sql/tables.sql"} <= data
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"pghaul-{version}.dist-info/METADATA").decode()
    assert data <= names, sorted(data - names)
    assert f"pghaul-{version}.dist-info/licenses/LICENSE" in names
    assert f"\nVersion: {version}\n" in metadata
    assert "\nLicense-Expression: MIT\n" in metadata
    with tarfile.open(sdist) as archive:
        members = {name.removeprefix(f"pghaul-{version}/") for name in archive.getnames()}
    assert {f"src/{name}" for name in data} <= members
    assert {"LICENSE", "README.md", "pyproject.toml"} <= members

    venv = _new_venv(tmp_path / "venv")
    env = _clean_env(venv)
    elsewhere = tmp_path / "elsewhere"  # nothing of the checkout importable from here
    elsewhere.mkdir()
    _run([str(venv / "bin" / "pip"), "install", "--quiet", f"{wheel}[embedded]"], env, elsewhere, INSTALL_TIMEOUT)
    where = _run([str(venv / "bin" / "python"), "-c", "import pghaul; print(pghaul.__file__)"], env, elsewhere, 60)
    assert Path(where.strip()).is_relative_to(venv), where

    assert _run(["pghaul", "--version"], env, elsewhere, 60).strip() == f"pghaul {version}"
    demo = _run(["pghaul", "demo"], env, elsewhere, DEMO_TIMEOUT)
    assert "Demo migration verified" in demo, demo
    with _serving(["pghaul", "serve"], {**env, **_deploy_variables()}, elsewhere) as port:
        _check_health(port)


def test_page_footer_shows_the_version() -> None:
    from pghaul.http.page import Page

    html = Page().response().body.decode()
    assert f'<p id="version">pghaul {pghaul.__version__}</p>' in html
    assert "{{" not in html
