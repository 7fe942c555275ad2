"""Request limits enforced before any view or parser reads the body."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


class RequestBodyLimit:
    """Refuses a request body larger than DATA_UPLOAD_MAX_MEMORY_SIZE (TRIBUTARY_MAX_REQUEST_BYTES)
    with a JSON 413, before anything reads it.

    Django checks that limit only when `request.body` or `request.POST` is read; DRF's JSON
    parser reads the stream itself, so without this a 1 GB body would be parsed in memory.
    A body without Content-Length is read by Django as empty, so the header is the whole story.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(
                {"error": "Content-Length is not a number", "details": {}}, status=400
            )
        if limit is not None and length > limit:
            return JsonResponse(
                {
                    "error": f"request body too large: {length} bytes, the limit is {limit}",
                    "details": {"size": length, "limit": limit},
                },
                status=413,
            )
        return self.get_response(request)
