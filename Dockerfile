# pghaul as a container: the admin API and the migration page (`pghaul serve`) on $PORT.
#
# Railway, Render and Fly build this file when pointed at the repository (railway.json, render.yaml, fly.toml).
# Configure it with DATABASE_URL, NEW_DATABASE_URL, MIGRATION_SECRET and ALLOW_DB_MIGRATION=true;
# docs/MIGRATION_GUIDE.md says where. CI cannot pull the base image, so it lints this file with hadolint and
# replays its `pip` steps in a clean venv (tests/test_packaging.py): keep every install step a `RUN pip …` line.
FROM python:3.11-slim

# PORT: platforms set their own; 8000 when run by hand (`docker run -p 8000:8000 …`). With PORT set, pghaul
# listens on every interface, as a container must.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PORT=8000

# The server runs as this user (numeric below, so a platform that insists on non-root can tell): it writes nothing
# but its own home.
RUN groupadd --gid 10001 pghaul \
    && useradd --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin pghaul

# requirements.txt names this project itself (`.`), so the image installs exactly what Heroku's buildpack does.
WORKDIR /build
COPY requirements.txt pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip install -r requirements.txt

WORKDIR /home/pghaul
USER 10001:10001
EXPOSE 8000

# GET /healthz answers {"status": "ok", "version": …} without the secret and without touching a database.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]

CMD ["pghaul", "serve"]
