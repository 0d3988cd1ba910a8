"""The migration page as a file and as served: one inline style, one inline script, nothing the strict
Content-Security-Policy would block, nothing fetched from elsewhere. (The browser tests run it.)"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources

from fastapi.testclient import TestClient

from pghaul.http import create_app
from pghaul.settings import Settings

SECRET = "page-static-Secret-0042abcd"


def _page() -> str:
    return resources.files("pghaul.http").joinpath("static", "migrate.html").read_text(encoding="utf-8")


def _inline(html: str, tag: str) -> list[str]:
    return re.findall(rf"<{tag}\b[^>]*>(.*?)</{tag}\s*>", html, flags=re.IGNORECASE | re.DOTALL)


def _hash(body: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii") + "'"


def test_the_page_is_one_file_that_a_strict_policy_allows() -> None:
    html = _page()
    assert len(_inline(html, "style")) == 1
    assert len(_inline(html, "script")) == 1
    assert not re.search(r"<script\b[^>]*\bsrc\s*=", html, re.IGNORECASE)
    assert not re.search(r"<(link|img|iframe|object|embed|base)\b", html, re.IGNORECASE)
    # Inline handlers and style attributes are what a hash-based policy refuses to run or apply.
    markup = re.sub(r"<(script|style)\b.*?</\1>", "", html, flags=re.IGNORECASE | re.DOTALL)
    assert not re.search(r"\son[a-z]+\s*=", markup, re.IGNORECASE)
    assert not re.search(r"\sstyle\s*=", markup, re.IGNORECASE)
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.IGNORECASE), "no other origin"
    script = _inline(html, "script")[0]
    for unsafe in ("eval(", "new Function", "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
        assert unsafe not in script, unsafe
    assert "sessionStorage" in script and "localStorage" not in script
    assert "X-Migration-Secret" in script


def test_the_served_page_carries_a_policy_with_the_hashes_of_its_blocks(source_url: str, target_url: str) -> None:
    settings = Settings(
        database_url=source_url, new_database_url=target_url, migration_secret=SECRET, allow_db_migration=True
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/api/admin/migrate")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if " " in d.strip())
    assert directives["script-src"].split() == [_hash(_inline(html, "script")[0])]
    assert directives["style-src"].split() == [_hash(_inline(html, "style")[0])]
    assert directives["connect-src"] == "'self'"
    assert "unsafe" not in csp
    assert SECRET not in html


def test_step_5_offers_to_start_following_a_migrated_target_with_the_check_steps_announcement() -> None:
    html = _page()
    offer = re.search(r'<div id="follow-start-offer" hidden>(.*?)</div>\s*<div id="follow-status"', html, re.DOTALL)
    assert offer is not None
    text = " ".join(offer.group(1).split())
    assert "Start following (logical replication)" in text
    # The same announcement as the Check step's offer: what it creates on the old database, and the slot's risk.
    check = re.search(r'<div id="follow-help" class="help">(.*?)</div>', html, re.DOTALL)
    assert check is not None
    announcement = " ".join(check.group(1).split()).split("<p>")[2].removesuffix("</p>").split("named")[0]
    assert announcement and announcement.strip() in text
    assert "a slot left behind fills the old database's disk" in text
    script = _inline(html, "script")[0]
    assert 'api("POST", "db-follow")' in script and 'follow("db-follow"' in script
    assert '$("start-follow").addEventListener("click", runStartFollow)' in script
