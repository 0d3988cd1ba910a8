"""The platforms' deploy descriptors, parsed as each platform reads them: every one builds this repository the one
tested way (the Dockerfile, or for Heroku's buildpack the requirements.txt the Dockerfile installs too), starts
`pghaul serve`, polls the health path, and asks for the four variables with a description, generating the secret
where the platform can, so that nothing else needs typing.

Railway's config file has no place for variables (they are typed in the dashboard, or declared in a template
published from the dashboard) and Fly's keeps secrets out of the file: for those two the guide names the variables,
and the file must not hold their values.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import tomllib
from pathlib import Path

import yaml
from fastapi.testclient import TestClient
from typer.main import get_command

from pghaul import __version__
from pghaul.cli import app
from pghaul.http import create_app
from pghaul.http.health import HEALTH_PATH
from pghaul.settings import Settings, secret_problem
from tests.test_packaging import healthcheck_command, image_env, start_command

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "docs" / "MIGRATION_GUIDE.md"

VARIABLES = ("DATABASE_URL", "NEW_DATABASE_URL", "MIGRATION_SECRET", "ALLOW_DB_MIGRATION")
DATABASE_VARIABLES = ("DATABASE_URL", "NEW_DATABASE_URL")
START = "pghaul serve"
# How much the description of each variable must say, in any words: which database, or what the value is for.
ABOUT = {
    "DATABASE_URL": re.compile(r"(?i)current|source|old"),
    "NEW_DATABASE_URL": re.compile(r"(?i)new|target"),
    "MIGRATION_SECRET": re.compile(r"(?i)secret"),
    "ALLOW_DB_MIGRATION": re.compile(r"(?i)switch|true"),
}


def _json(name: str) -> dict:
    return json.loads((REPO / name).read_text())


def _comment_before(text: str, line_start: str) -> str:
    """The comment lines right above the line that starts (after indentation) with ``line_start``."""
    lines = text.splitlines()
    (at,) = [i for i, line in enumerate(lines) if line.strip().startswith(line_start)]
    comment: list[str] = []
    for line in reversed(lines[:at]):
        if not line.strip().startswith("#"):
            break
        comment.insert(0, line.strip().lstrip("#").strip())
    return " ".join(comment)


def test_the_start_command_is_pghauls_serve() -> None:
    """What every descriptor starts is the console script's `serve`, and the image starts the same."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["pghaul"] == "pghaul.cli:main"
    assert "serve" in get_command(app).commands  # type: ignore[attr-defined]
    assert start_command() == START.split()
    assert HEALTH_PATH in " ".join(healthcheck_command())


def test_health_path_answers_without_secret_and_says_nothing_else() -> None:
    settings = Settings(database_url="postgresql://app:pw@127.0.0.1:1/old", new_database_url=None,
                        migration_secret=secrets.token_urlsafe(32), allow_db_migration=True)
    with TestClient(create_app(settings)) as client:
        reply = client.get(HEALTH_PATH)
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok", "version": __version__}
    assert reply.headers["cache-control"] == "no-store"


def test_heroku_app_json_and_procfile() -> None:
    app_json = _json("app.json")
    env = app_json["env"]
    assert tuple(env) == VARIABLES  # nothing else to fill in
    for name, spec in env.items():
        assert ABOUT[name].search(spec["description"]), (name, spec["description"])
        assert spec.get("required", True) is True, name
    for name in DATABASE_VARIABLES:
        assert "value" not in env[name] and "generator" not in env[name], f"{name} is the owner's to give"
    assert env["MIGRATION_SECRET"]["generator"] == "secret"
    assert env["ALLOW_DB_MIGRATION"]["value"] == "true"
    assert app_json["success_url"] == "/api/admin/migrate"
    # The buildpack installs requirements.txt, which is this repository itself: the Dockerfile's install too.
    assert app_json["buildpacks"] == [{"url": "heroku/python"}]
    requirements = [line.strip() for line in (REPO / "requirements.txt").read_text().splitlines()
                    if line.strip() and not line.startswith("#")]
    assert requirements == ["."]
    # A dyno that sleeps (eco) stops a migration running while nobody has the page open.
    assert app_json["formation"]["web"]["size"] != "eco"

    procfile = dict(line.split(":", 1) for line in (REPO / "Procfile").read_text().splitlines() if line.strip())
    assert {kind: command.strip() for kind, command in procfile.items()} == {"web": START}


def test_render_blueprint() -> None:
    text = (REPO / "render.yaml").read_text()
    blueprint = yaml.safe_load(text)
    (service,) = blueprint["services"]
    assert (service["type"], service["runtime"]) == ("web", "docker")
    assert service["dockerfilePath"] == "./Dockerfile"
    assert service["dockerCommand"] == START
    assert service["healthCheckPath"] == HEALTH_PATH
    assert service["plan"] != "free"  # a free instance stops after 15 idle minutes, and a running migration with it
    env = {var["key"]: var for var in service["envVars"]}
    assert tuple(env) == VARIABLES
    for name in DATABASE_VARIABLES:
        assert env[name] == {"key": name, "sync": False}  # Render asks for it when the Blueprint is created
    assert env["MIGRATION_SECRET"] == {"key": "MIGRATION_SECRET", "generateValue": True}
    assert env["ALLOW_DB_MIGRATION"] == {"key": "ALLOW_DB_MIGRATION", "value": "true"}
    for name in VARIABLES:  # the Blueprint format has no description field: a comment above each
        assert ABOUT[name].search(_comment_before(text, f"- key: {name}")), name


def test_railway_config() -> None:
    config = _json("railway.json")
    assert config["build"] == {"builder": "DOCKERFILE", "dockerfilePath": "Dockerfile"}
    deploy = config["deploy"]
    assert deploy["startCommand"] == START
    assert deploy["healthcheckPath"] == HEALTH_PATH
    assert deploy["sleepApplication"] is False  # a sleeping service stops a migration running in the background
    # Config as code covers build and deploy only: the variables are set on the service, as the guide says.
    assert set(config) == {"$schema", "build", "deploy"}
    railway = GUIDE.read_text().split("### Railway: deploy from this repository", 1)[1].split("\n### ", 1)[0]
    for name in VARIABLES:  # the four lines the guide has people paste into Railway's Raw Editor
        assert re.search(rf"(?m)^\s*{name}=\S", railway), f"the guide's Railway steps do not set {name}"


def test_fly_config() -> None:
    text = (REPO / "fly.toml").read_text()
    config = tomllib.loads(text)
    assert config["build"] == {"dockerfile": "Dockerfile"}
    assert config["processes"] == {"app": START}
    service = config["http_service"]
    assert service["processes"] == ["app"]
    assert str(service["internal_port"]) == config["env"]["PORT"] == image_env()["PORT"]
    assert service["force_https"] is True
    assert service["auto_stop_machines"] == "off"  # a stopped machine stops a migration running in the background
    assert [check["path"] for check in service["checks"]] == [HEALTH_PATH]
    # The switch is set in the file; the URLs and the secret are secrets, set with `fly secrets set`, never here.
    assert config["env"]["ALLOW_DB_MIGRATION"] == "true"
    assert not set(config["env"]) & {"DATABASE_URL", "NEW_DATABASE_URL", "MIGRATION_SECRET"}
    for name in ("DATABASE_URL", "NEW_DATABASE_URL", "MIGRATION_SECRET"):
        described = [line for line in text.splitlines() if line.startswith(f"#   {name} ")]
        assert described and ABOUT[name].search(described[0]), name
        assert f"{name}=" in text  # in the `fly secrets set` line


def test_secrets_the_platforms_generate_are_accepted() -> None:
    """pghaul refuses to start with a guessable MIGRATION_SECRET: what Heroku's `secret` generator (64 hex digits)
    and Render's generateValue (256 random bits, base64) make must always pass."""
    for _ in range(2000):
        assert secret_problem(secrets.token_hex(32)) is None
        assert secret_problem(base64.b64encode(secrets.token_bytes(32)).decode()) is None
