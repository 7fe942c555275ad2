from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path, re_path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from flows.metrics import metrics_view


def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


def api_not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    return JsonResponse({"error": f"no API endpoint at {request.path}", "details": {}}, status=404)


urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("flows.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    re_path(r"^api/(?P<rest>.*)$", api_not_found),
    path("metrics", metrics_view, name="metrics"),
    path("healthz", healthz, name="healthz"),
    # The single-page app handles every other path.
    re_path(r"^(?!static/).*$", TemplateView.as_view(template_name="index.html"), name="app"),
]
