"""A round-robin HTTP load balancer for the scale-out tests: ``python -m tests.balancer PORT
URL [URL ...]``.

It stands in for the reverse proxy of a deployment (the nginx configuration under deploy/)
with the same failover rule: a request goes to the next server only when the chosen one
refused the connection, that is, when the request never reached it (nginx's
``proxy_next_upstream error``; a request that reached a server is never sent twice). Each
answer carries ``X-Haven-Upstream: N``, the index of the server that gave it.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools

import aiohttp
from aiohttp import web

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


def make_app(upstreams: list[str]) -> web.Application:
    turns = itertools.cycle(range(len(upstreams)))
    app = web.Application(client_max_size=4 * 1024 * 1024)

    async def session(app: web.Application):
        app["client"] = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=120), auto_decompress=False
        )
        yield
        await app["client"].close()

    app.cleanup_ctx.append(session)

    async def forward(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        first = next(turns)
        for step in range(len(upstreams)):
            index = (first + step) % len(upstreams)
            url = upstreams[index] + request.rel_url.path_qs
            try:
                async with request.app["client"].request(
                    request.method, url, headers=headers, data=body, allow_redirects=False
                ) as reply:
                    content = await reply.read()
                    out = {k: v for k, v in reply.headers.items() if k.lower() not in HOP_BY_HOP}
                    out["X-Haven-Upstream"] = str(index)
                    return web.Response(status=reply.status, body=content, headers=out)
            except aiohttp.ClientConnectorError:
                continue  # never reached that server: the next one may take it
            except (aiohttp.ClientError, asyncio.TimeoutError):
                return web.Response(status=502, text="upstream failed mid-request")
        return web.Response(status=502, text="no upstream reachable")

    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("upstreams", nargs="+")
    args = parser.parse_args()
    upstreams = [u.rstrip("/") for u in args.upstreams]
    web.run_app(make_app(upstreams), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
