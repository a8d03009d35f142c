"""API plumbing shared by every app: errors as JSON a person can act on."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from flywheel.errors import DomainError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, with domain errors from services as 400s.

    Every error body has `error` (one sentence) and, for validation errors, `fields`.
    """
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or "You may not do this.")
    elif isinstance(exc, DomainError):
        exc = exceptions.ValidationError({"error": str(exc)})
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(data, dict) and "detail" in data and len(data) == 1:
        response.data = {"error": str(data["detail"])}
    elif isinstance(data, dict) and set(data) == {"error"}:
        error = data["error"]
        response.data = {"error": str(error[0] if isinstance(error, list) else error)}
    elif isinstance(data, dict | list):
        response.data = {"error": "Some fields are not valid.", "fields": data}
    return response


class KeysetPagination(CursorPagination):
    """Keyset (cursor) pagination on the primary key: constant cost at any depth."""

    ordering = "id"
    page_size_query_param = "page_size"
    max_page_size = 1000
