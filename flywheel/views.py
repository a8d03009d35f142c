from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from labeling.models import Role
from labeling.selectors import project_list_for_user, roles_for_user


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Labelers go to their queue, researchers and reviewers to the dashboard."""
    if not request.user.is_authenticated:
        return redirect("login")
    roles = roles_for_user(user=request.user)
    if roles & {Role.RESEARCHER, Role.REVIEWER}:
        return redirect("dashboard")
    return redirect("labeling:queue")


@require_GET
@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    projects = list(
        project_list_for_user(user=request.user, roles=[Role.RESEARCHER, Role.REVIEWER]).order_by(
            "name"
        )
    )
    research_ids = set(
        project_list_for_user(user=request.user, roles=[Role.RESEARCHER]).values_list(
            "pk", flat=True
        )
    )
    return render(
        request,
        "flywheel/dashboard.html",
        {"projects": projects, "research_ids": research_ids},
    )


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")
