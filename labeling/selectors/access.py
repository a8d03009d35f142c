"""Reads that span relations. Access rules live here so every view and endpoint shares them."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from labeling.models import Membership, Project, Role

ERROR_NOT_FOUND = "No such project, or you are not a member of it."
ERROR_ROLE = "Your role in this project ({role}) does not allow this; it needs {needed}."

User = AbstractBaseUser | AnonymousUser


def project_list_for_user(*, user: User, roles: Iterable[str] | None = None) -> QuerySet[Project]:
    """Projects the user belongs to (all of them for a superuser), optionally by role."""
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    memberships = Membership.objects.filter(user=user)
    if roles is not None:
        memberships = memberships.filter(role__in=list(roles))
    return Project.objects.filter(pk__in=memberships.values("project_id"))


def role_for_user(*, user: User, project: Project) -> str | None:
    """The user's role in the project; superusers act as researchers everywhere."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.RESEARCHER
    return (
        Membership.objects.filter(user=user, project=project).values_list("role", flat=True).first()
    )


def roles_for_user(*, user: User) -> set[str]:
    if not user.is_authenticated:
        return set()
    if user.is_superuser:
        return {Role.LABELER, Role.REVIEWER, Role.RESEARCHER}
    return set(Membership.objects.filter(user=user).values_list("role", flat=True))


# Reviewers may do what labelers do; researchers may do everything in their project.
_ROLE_IMPLIES = {
    Role.LABELER: {Role.LABELER},
    Role.REVIEWER: {Role.LABELER, Role.REVIEWER},
    Role.RESEARCHER: {Role.LABELER, Role.REVIEWER, Role.RESEARCHER},
}


def project_get_for_user(
    *, user: User, project_id: int | str, roles: Iterable[str] | None = None
) -> Project:
    """The project if the user is a member with one of `roles`.

    A non-member gets 404 (the project's existence is not revealed); a member whose role is
    not enough gets PermissionDenied.
    """
    try:
        project = Project.objects.get(pk=int(project_id))
    except (Project.DoesNotExist, ValueError, TypeError):
        raise Http404(ERROR_NOT_FOUND) from None
    role = role_for_user(user=user, project=project)
    if role is None:
        raise Http404(ERROR_NOT_FOUND)
    if roles is not None:
        needed = set(roles)
        if not (_ROLE_IMPLIES[Role(role)] & needed):
            raise PermissionDenied(ERROR_ROLE.format(role=role, needed=" or ".join(sorted(needed))))
    return project
