"""The page, its static files and sample images, as Starlette routes for either front end."""

from __future__ import annotations

import os
from typing import Callable, Sequence

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from zfnet_tf.serving.explorer import samples

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
# A page reloaded after an upgrade must not mix old and new modules.
_NO_CACHE = {"Cache-Control": "no-cache"}


class _StaticFiles(StaticFiles):
    async def get_response(self, path, scope):
        response = await super().get_response(path, scope)
        response.headers.update(_NO_CACHE)
        return response


def explorer_routes(model_names: Callable[[], Sequence[str]], max_request_bytes: int) -> list:
    """`GET /` (the page), `/explorer/config.json` (the models, the first the default, and the
    largest request body the server takes, which the page checks before sending),
    `/explorer/samples.json`, `/explorer/samples/NAME.png` and `/explorer/static/...`.

    Args:
        model_names: the models the page may ask for, in the server's order.
        max_request_bytes: the server's (or the proxy's) request-size limit.
    """

    async def index(request: Request) -> Response:
        return FileResponse(os.path.join(STATIC_DIR, "index.html"), headers=_NO_CACHE)

    async def config(request: Request) -> Response:
        names = list(model_names())
        return JSONResponse({
            "models": names,
            "default_model": names[0] if names else None,
            "max_request_bytes": max_request_bytes,
        })

    async def sample_index(request: Request) -> Response:
        return JSONResponse(
            [{**sample, "url": f"/explorer/samples/{sample['name']}.png"} for sample in samples.sample_list()]
        )

    async def sample(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            data = await _in_thread(samples.sample_png, name)
        except KeyError:
            return JSONResponse({"error": f"no sample image named {name!r}"}, status_code=404)
        return Response(data, media_type="image/png", headers={"Cache-Control": "max-age=3600"})

    return [
        Route("/", index, methods=["GET"]),
        Route("/explorer/config.json", config, methods=["GET"]),
        Route("/explorer/samples.json", sample_index, methods=["GET"]),
        Route("/explorer/samples/{name}.png", sample, methods=["GET"]),
        Mount("/explorer/static", app=_StaticFiles(directory=STATIC_DIR), name="explorer-static"),
    ]


async def _in_thread(function, *args):
    # Decoding scikit-image's photos and encoding PNGs takes 10s of ms: off the event loop.
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(function, *args)
