from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.views import APIView


class Pagination(PageNumberPagination):
    """Pages of 50; `?page_size=` up to 500 (larger values are cut to 500). A page or page
    size that is not a whole number from 1 up is a 400, not silently the default; a page past
    the end is a 404."""

    page_size = 50
    page_size_query_param = "page_size"
    page_size_query_description = "Results per page, 1 to 500 (larger values give 500)."
    max_page_size = 500

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
            raise ValidationError({"page_size": "must be a whole number from 1 to 500"})
        return min(int(raw), self.max_page_size)

    def get_page_number(self, request: Request, paginator: Any) -> Any:
        raw = request.query_params.get(self.page_query_param)
        if raw is None:
            return 1
        if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
            raise ValidationError({"page": "must be a whole number from 1"})
        return int(raw)

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"] = {"type": "integer", "minimum": 1}
        return parameters
