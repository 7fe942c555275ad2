from __future__ import annotations

import hmac

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.health import readyz
from flows.metrics import metrics_view


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics; with TRIBUTARY_METRICS_TOKEN set, only for `Authorization: Bearer
    <token>` (the scraper's `authorization` setting), since they name every flow."""
    token = settings.TRIBUTARY_METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
            response = JsonResponse(
                {"error": "send the metrics token as Authorization: Bearer <token>", "details": {}},
                status=401,
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    return metrics_view(request)


def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


@ensure_csrf_cookie
def spa_index(request: HttpRequest) -> HttpResponse:
    """The built single-page app (or a placeholder before `npm run build`), served as is.

    The CSRF cookie is set here so the app can send it back on its first POST.
    """
    built = settings.FRONTEND_DIST / "index.html"
    page = (
        built if built.exists() else settings.BASE_DIR / "frontend" / "placeholder" / "index.html"
    )
    response = HttpResponse(page.read_bytes(), content_type="text/html; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response


@csrf_exempt  # changes nothing; a POST must get this JSON 404, not the CSRF failure page
def api_not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    return JsonResponse({"error": f"no API endpoint at {request.path}", "details": {}}, status=404)


urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("flows.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    re_path(r"^api/(?P<rest>.*)$", api_not_found, name="api-not-found"),
    path("metrics", metrics, name="metrics"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    # The single-page app handles every other path.
    re_path(r"^(?!static/).*$", spa_index, name="app"),
]
