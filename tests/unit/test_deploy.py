"""The deployment files (deploy/) agree with the code: every setting is listed, the proxy's
limits and timeouts fit the servers', only the public routes are published, and every
process runs unprivileged. Static checks: no Docker, nginx or systemd needed (those are
checked by hand, docs/deployment.md "What was checked")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.channels.pushed import WAIT_SECONDS
from bot.settings import get_settings
from bot.web.chat import EVENTS_TIMEOUT_SECONDS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NGINX = (DEPLOY / "nginx" / "haven.conf").read_text()
SECRETS = ("HAVEN_RASA_TOKEN", "HAVEN_ACTIONS_SECRET", "HAVEN_LOG_SECRET", "HAVEN_CONTACT_KEYS",
           "TELEGRAM_WEBHOOK_SECRET", "HAVEN_METRICS_TOKEN")  # fmt: skip
HARDENING = ("User=haven", "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
             "ReadWritePaths=/var/lib/haven", "UMask=0077", "CapabilityBoundingSet=\n",
             "EnvironmentFile=/etc/haven/haven.env")  # fmt: skip
HAVEN_SERVICES = ("migrate", "rasa-1", "rasa-2", "actions", "web", "purge")


def settings_variables() -> set[str]:
    source = (ROOT / "bot" / "settings.py").read_text()
    return set(re.findall(r'_env(?:_int)?\(\s*"([A-Z0-9_]+)"', source))


def server_block(listen: str) -> str:
    start = NGINX.index(f"listen {listen}")
    end = NGINX.find("\nserver {", start)
    return NGINX[start : end if end > 0 else len(NGINX)]


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


@pytest.mark.parametrize("example", [".env.example", "systemd/haven.env.example"])
def test_every_setting_is_in_the_settings_examples(example: str) -> None:
    text = (DEPLOY / example).read_text()
    assert len(settings_variables()) > 30
    missing = sorted(name for name in settings_variables() if name not in text)
    assert not missing, f"{example} does not mention {missing}"
    for name in SECRETS:  # placeholders only, never a real secret
        [value] = re.findall(rf"^{name}=(.*)$", text, re.MULTILINE)
        assert value.startswith("CHANGE-ME"), name
    assert "HAVEN_STAFF_HTTPS" in text and "SANIC_PROXIES_COUNT" in text


def test_the_proxy_limits_and_timeouts_fit_the_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HAVEN_MAX_REQUEST_BYTES", raising=False)
    get_settings.cache_clear()
    try:
        limit = get_settings().max_request_bytes
    finally:
        get_settings.cache_clear()
    public = server_block("443")
    assert re.search(r"client_max_body_size (\d+)k;", public).group(1) == str(limit // 1024)
    assert re.search(r"client_body_buffer_size (\d+)k;", public).group(1) == str(limit // 1024)
    read_timeout = int(re.search(r"proxy_read_timeout (\d+)s;", public).group(1))
    assert read_timeout > 30 and read_timeout > max(WAIT_SECONDS, EVENTS_TIMEOUT_SECONDS)
    assert "proxy_next_upstream error timeout;" in public
    assert "non_idempotent" not in NGINX, "a POST that reached a server is never sent again"
    assert "Strict-Transport-Security" in public and "ssl_protocols TLSv1.2 TLSv1.3;" in public
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in public  # replaced, not appended


def test_only_the_public_routes_are_published() -> None:
    public = server_block("443")
    pattern = r"location ((?:= |\^~ )?\S+) \{\s*(?:[^}]*?)(proxy_pass \S+|return 404)"
    routes = dict(re.findall(pattern, public))
    rasa, web = "proxy_pass http://haven_rasa;", "proxy_pass http://haven_web;"
    assert routes == {
        "^~ /webhooks/telegram/": rasa,
        "^~ /webhooks/": rasa,
        "= /": web,  # the chat page only, not a prefix
        "^~ /static/": web,
        "^~ /chat/": web,
        "= /staff": web,
        "^~ /staff/": web,
        "= /api": web,
        "^~ /api/": web,
        "/": "return 404",  # everything else: Rasa's API, /metrics, /healthz...
    }
    assert "haven_actions" not in public
    for internal in ("8005", "8055"):
        block = server_block(internal)
        assert "deny all;" in block and "access_log off;" in block
    assert "location = /metrics" in server_block("8005")


def test_compose_runs_each_process_unprivileged_behind_the_proxy() -> None:
    services = compose()["services"]
    assert set(HAVEN_SERVICES) | {"postgres", "redis", "proxy"} == set(services)
    for name in HAVEN_SERVICES:
        service = services[name]
        assert service["user"] == "haven" and service["read_only"] is True, name
        assert (
            service["cap_drop"] == ["ALL"] and "no-new-privileges:true" in service["security_opt"]
        )
        assert "ports" not in service, f"{name} must not be published"
        environment = service["environment"]
        assert environment["HAVEN_RASA_URL"] == "http://proxy:8005"
        assert environment["HAVEN_ACTION_ENDPOINT_URL"] == "http://proxy:8055/webhook"
        assert environment["HAVEN_STAFF_HTTPS"] == "1" and environment["SANIC_PROXIES_COUNT"] == "1"
    assert [name for name, service in services.items() if "ports" in service] == ["proxy"]
    commands = {tuple(services[name]["command"]) for name in ("rasa-1", "rasa-2")}
    assert len(commands) == 1, "every Rasa server loads the same model"
    assert services["migrate"]["command"] == ["haven", "db", "upgrade"]
    assert "haven purge" in " ".join(services["purge"]["command"])
    upstreams = (DEPLOY / "nginx" / "upstreams-compose.conf").read_text()
    for name in ("rasa-1", "rasa-2", "actions", "web"):
        assert f"server {name}:" in upstreams


def test_systemd_units_are_hardened() -> None:
    units = sorted((DEPLOY / "systemd").glob("*.service"))
    assert {unit.name for unit in units} >= {
        "haven-rasa@.service", "haven-actions@.service", "haven-web.service",
        "haven-purge.service", "haven-migrate.service", "haven-backup.service",
    }  # fmt: skip
    for unit in units:
        text = unit.read_text()
        for line in HARDENING:
            assert line in text, f"{unit.name}: {line!r}"
    assert (
        "Environment=HAVEN_RASA_PORT=%i" in (DEPLOY / "systemd" / "haven-rasa@.service").read_text()
    )
    timer = (DEPLOY / "systemd" / "haven-purge.timer").read_text()
    assert "OnCalendar=hourly" in timer and "Unit=" not in timer  # starts haven-purge.service
