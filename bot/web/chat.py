"""The web chat on the web process: the page at ``/``, its files, and ``/chat/*`` forwarded
to the Rasa server's web chat channel (``bot/channels/webchat.py``).

The browser talks to this origin only, so the page's content security policy can allow
nothing else: no CDN, no external font, no inline script or style, no frames. Every file
is in ``bot/web/static/``. The page keeps the conversation id in memory only (no cookie,
no storage), so closing or reloading it ends the conversation on that device.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import aiohttp
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.i18n.catalogs import N_, load_catalogs
from bot.languages import menu_languages
from bot.settings import get_settings

STATIC = Path(__file__).resolve().parent / "static"
FILES = {  # name → content type: only these are served
    "chat.css": "text/css; charset=utf-8",
    "chat.js": "text/javascript; charset=utf-8",
}
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
LANGUAGE_HEADER = "X-Haven-Language"  # the conversation's language after a turn
LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}$")
EVENTS_TIMEOUT_SECONDS = 40  # longer than the channel's long poll (25 s)

chat = Blueprint("haven_web_chat")


# The page's own words, translated from the catalogs for each language of the menu.
UI = {
    "language": N_("Language"),
    "exit": N_("Quick exit"),
    "send": N_("Send"),
    "your-message": N_("Your message"),
    "write-here": N_("Write your message here"),
    "sending": N_("Sending…"),
    "error": N_("Could not reach Haven. Check your connection and try again."),
    "retry": N_("Send again"),
    "cleared": N_("The chat was cleared after 10 minutes without activity."),
    "you": N_("You"),
    "conversation": N_("Conversation"),
    "notice": N_(
        "Automated assistant, not a person. Not the police, not immigration. In danger, "
        'call 911. Press Esc twice or tap "Quick exit" to leave fast.'
    ),
}


def page_config() -> dict:
    """What the script reads: the quick exit, the language menu (code, name in itself,
    direction) and the page's words in each of those languages."""
    catalogs = load_catalogs(get_settings().locales_dir)
    languages = menu_languages()
    return {
        "quickExitUrl": get_settings().quick_exit_url,
        "languages": [
            {"code": lang.code, "name": lang.native_name, "dir": lang.direction}
            for lang in languages
        ],
        "ui": {
            lang.code: {key: catalogs.translate(text, lang.code) for key, text in UI.items()}
            for lang in languages
        },
    }


def _page() -> str:
    """index.html with the settings the script reads (a JSON data attribute, escaped)."""
    config = json.dumps(page_config(), ensure_ascii=True).replace("&", "&amp;")
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    return page.replace("{{config}}", config.replace('"', "&quot;"))


@chat.listener("before_server_start")
async def open_client(app: Sanic, loop) -> None:
    app.ctx.rasa = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))


@chat.listener("after_server_stop")
async def close_client(app: Sanic, loop) -> None:
    await app.ctx.rasa.close()


@chat.middleware("response")
async def page_policy(request: Request, resp: HTTPResponse) -> None:
    resp.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    resp.headers["Permissions-Policy"] = "geolocation=(), camera=(), microphone=()"


@chat.get("/")
async def index(request: Request) -> HTTPResponse:
    return response.html(_page())


@chat.get("/static/<name>")
async def static(request: Request, name: str) -> HTTPResponse:
    if name not in FILES:
        return response.json({"error": "Not found."}, status=404)
    body = (STATIC / name).read_bytes()
    return response.raw(body, content_type=FILES[name])


async def _forward(request: Request, method: str, path: str, **options) -> HTTPResponse:
    url = f"{get_settings().rasa_internal_url}/webhooks/webchat/{path}"
    try:
        async with request.app.ctx.rasa.request(method, url, **options) as reply:
            body = await reply.read()
            spoken = reply.headers.get(LANGUAGE_HEADER, "")
            headers = {LANGUAGE_HEADER: spoken} if LANGUAGE_CODE.match(spoken) else {}
            return response.raw(
                body, status=reply.status, content_type="application/json", headers=headers
            )
    except (aiohttp.ClientError, asyncio.TimeoutError):  # not the builtin one on 3.10
        return response.json({"error": "Haven is starting or busy. Try again."}, status=503)


@chat.post("/chat/message")
async def message(request: Request) -> HTTPResponse:
    headers = {"Content-Type": "application/json"}
    return await _forward(request, "POST", "webhook", data=request.body, headers=headers)


@chat.get("/chat/events")
async def events(request: Request) -> HTTPResponse:
    params = {k: request.args.get(k) for k in ("sender", "after", "wait") if k in request.args}
    timeout = aiohttp.ClientTimeout(total=EVENTS_TIMEOUT_SECONDS)
    return await _forward(request, "GET", "events", params=params, timeout=timeout)
