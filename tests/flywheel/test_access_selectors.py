import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from labeling.models import Role
from labeling.selectors import ERROR_NOT_FOUND, project_get_for_user
from labeling.services import ERROR_BAD_ROLE, ProjectError, membership_set

pytestmark = pytest.mark.django_db


def test_member_gets_the_project(labeler, project):
    assert project_get_for_user(user=labeler, project_id=project.pk) == project


def test_non_member_gets_404_not_a_hint(stranger, project):
    with pytest.raises(Http404, match=ERROR_NOT_FOUND):
        project_get_for_user(user=stranger, project_id=project.pk)


def test_labeler_may_not_do_researcher_work(labeler, project):
    with pytest.raises(PermissionDenied, match="Your role in this project \\(labeler\\)"):
        project_get_for_user(user=labeler, project_id=project.pk, roles=[Role.RESEARCHER])


def test_reviewer_may_label_and_researcher_may_review(reviewer, owner, project):
    assert project_get_for_user(user=reviewer, project_id=project.pk, roles=[Role.LABELER])
    assert project_get_for_user(user=owner, project_id=project.pk, roles=[Role.REVIEWER])


def test_superuser_reaches_every_project(make_user, project):
    admin = make_user("root", superuser=True)
    assert project_get_for_user(user=admin, project_id=project.pk, roles=[Role.RESEARCHER])


def test_unknown_role_is_refused(labeler, project):
    with pytest.raises(ProjectError, match="Unknown role 'boss'"):
        membership_set(project=project, user=labeler, role="boss")
    assert ERROR_BAD_ROLE.startswith("Unknown role")
