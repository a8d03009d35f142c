from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from labeling.models import Membership


@require_GET
@login_required
def queue(request: HttpRequest) -> HttpResponse:
    """The labeler's projects with their guidelines."""
    memberships = (
        Membership.objects.filter(user=request.user)
        .select_related("project")
        .order_by("project__name")
    )
    return render(request, "labeling/queue.html", {"memberships": memberships})
