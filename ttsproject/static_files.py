"""Static files served by the application itself (SERVE_STATIC): the admin's and the demo page's."""

from __future__ import annotations

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousFileOperation
from django.http import FileResponse, Http404, HttpRequest, HttpResponse


class StaticFiles(ASGIStaticFilesHandler):
    """Django's static files handler, answering 404 to a path that leaves the static folders."""

    def serve(self, request: HttpRequest) -> HttpResponse | FileResponse:
        try:
            return super().serve(request)
        except SuspiciousFileOperation:
            # `/static/..%2fvar%2fsecret_key` reaches Django as `../var/secret_key`. Its finders
            # refuse to look outside the static folders by raising, which this handler (unlike
            # Django's views) does not turn into a response: a 500 and a traceback per request.
            raise Http404("No such static file") from None
