from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from flows.api import views

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
    path("", include(router.urls)),
]
