"""Writes for projects and memberships."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils.text import slugify

from flywheel.errors import DomainError
from labeling.models import Membership, Project, Role

ERROR_BAD_ROLE = "Unknown role {role!r}; use labeler, reviewer or researcher."
ERROR_SLUG_TAKEN = "A project with the slug {slug!r} exists already."


class ProjectError(DomainError):
    pass


@transaction.atomic
def project_create(
    *,
    name: str,
    created_by: AbstractBaseUser | None = None,
    slug: str | None = None,
    guidelines: str = "",
    description: str = "",
    task_types: list[str] | None = None,
) -> Project:
    slug = slug or slugify(name)
    if Project.objects.filter(slug=slug).exists():
        raise ProjectError(ERROR_SLUG_TAKEN.format(slug=slug))
    project = Project.objects.create(
        name=name,
        slug=slug,
        guidelines=guidelines,
        description=description,
        task_types=list(task_types or []),
        created_by=created_by,
    )
    if created_by is not None:
        Membership.objects.create(project=project, user=created_by, role=Role.RESEARCHER)
    return project


@transaction.atomic
def membership_set(*, project: Project, user: AbstractBaseUser, role: str) -> Membership:
    """Give the user this role in the project (one role per project; a new role replaces)."""
    if role not in Role.values:
        raise ProjectError(ERROR_BAD_ROLE.format(role=role))
    membership, _ = Membership.objects.update_or_create(
        project=project, user=user, defaults={"role": role}
    )
    return membership
