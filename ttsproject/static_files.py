"""Static files served by the application itself (SERVE_STATIC): the admin's and the demo page's.

WhiteNoise serves them from STATIC_ROOT, as `collectstatic` left it: gzip-compressed to clients
that accept it, and a hashed name (`demo.3f2a9c1b7e4d.js`) cached for good, its content never
changing; HEAD, ranges and 304 for `If-None-Match` as WhiteNoise does them. With DEBUG, from the
source folders, looked up on each request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.handlers.exception import response_for_exception
from django.http import FileResponse, Http404, HttpRequest, HttpResponseBase, StreamingHttpResponse
from whitenoise.middleware import WhiteNoiseMiddleware


class StaticFiles(ASGIStaticFilesHandler):
    """The files under STATIC_URL, through WhiteNoise; any other path goes to `application`."""

    def __init__(self, application: Any) -> None:
        super().__init__(application)
        # Configured from Django's settings; without DEBUG, it lists STATIC_ROOT once, here, so
        # files collected after the process started are served only after a restart.
        self.whitenoise = WhiteNoiseMiddleware()

    def serve(self, request: HttpRequest) -> FileResponse:
        """Called off the event loop with each request under STATIC_URL."""
        path = request.path_info
        if self.whitenoise.autorefresh:
            static_file = self.whitenoise.find_file(path)
        else:
            static_file = self.whitenoise.files.get(path)
        if static_file is None:
            # Also every path that climbs out of the static folders
            # (`/static/..%2fvar%2fsecret_key`): none is in the list, and with DEBUG WhiteNoise
            # looks up only canonical paths.
            raise Http404("No such static file")
        response: FileResponse = WhiteNoiseMiddleware.serve(static_file, request)
        return response

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        """Called with each request under STATIC_URL: the response, its body read off the
        event loop and off asgiref's shared sync thread."""
        response: HttpResponseBase
        try:
            response = await sync_to_async(self.serve, thread_sensitive=False)(request)
        except Http404 as error:
            response = await sync_to_async(response_for_exception, thread_sensitive=False)(
                request, error
            )
        # Django's handler reads the whole file at once with a thread-sensitive
        # `sync_to_async(list)`, kept off the shared sync thread only by the context its caller
        # opens; here each block is read on the default executor, whatever the context.
        if isinstance(response, StreamingHttpResponse) and not response.is_async:
            response.streaming_content = read_in_threads(iter(response))
        # As Django's SecurityMiddleware, which these responses pass by, does for the pages.
        response.setdefault("X-Content-Type-Options", "nosniff")
        return response


async def read_in_threads(blocks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """The blocks of a file, each read on the event loop's default executor."""
    while (block := await asyncio.to_thread(next, blocks, None)) is not None:
        yield block
