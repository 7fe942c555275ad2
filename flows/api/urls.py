from __future__ import annotations

from django.urls import include, path, re_path
from rest_framework.routers import DefaultRouter

from flows.api import storage, views
from flows.api.templates import TemplateDetailView, TemplateListView, TemplateUseView

router = DefaultRouter()
router.register("workspaces", views.WorkspaceViewSet, basename="workspace")
router.register("credentials", views.CredentialViewSet, basename="credential")
router.register("flows", views.FlowViewSet, basename="flow")
router.register("executions", views.ExecutionViewSet, basename="execution")

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="auth-token"),
    path("auth/session/", views.SessionView.as_view(), name="auth-session"),
    path("code/check/", views.CodeCheckView.as_view(), name="code-check"),
    path("components/", views.ComponentListView.as_view(), name="components"),
    path("code/run/", views.CodeRunView.as_view(), name="code-run"),
    # Flows as code; before the router, whose flows/{pk}/ would take "export" for an id.
    path("flows/export/", views.FlowBundleExportView.as_view(), name="flow-bundle-export"),
    path("flows/import/", views.FlowImportView.as_view(), name="flow-import"),
    path("flows/<int:id>/export/", views.FlowExportView.as_view(), name="flow-export"),
    re_path(
        r"^flows/(?P<id>[0-9]+)/versions/(?P<number>[0-9]+)/diff/(?P<other>[0-9]+|draft)/$",
        views.FlowVersionDiffView.as_view(),
        name="flow-version-diff",
    ),
    # Storage used by execution records (workspace owners and staff).
    path("storage/", storage.StorageView.as_view(), name="storage"),
    path("flows/<int:id>/prune/", storage.FlowPruneView.as_view(), name="flow-prune"),
    # The template gallery (docs/templates.md).
    path("templates/", TemplateListView.as_view(), name="template-list"),
    path("templates/<slug:slug>/", TemplateDetailView.as_view(), name="template-detail"),
    path("templates/<slug:slug>/use/", TemplateUseView.as_view(), name="template-use"),
    path("", include(router.urls)),
]
