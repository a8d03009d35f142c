"""The permission story on every page and endpoint the foundation has: member, member of
another project (stranger), anonymous."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_home_sends_anonymous_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"


def test_home_sends_labelers_to_their_queue_and_researchers_to_the_dashboard(
    client, labeler, owner
):
    client.force_login(labeler)
    assert client.get("/")["Location"] == "/queue/"
    client.force_login(owner)
    assert client.get("/")["Location"] == "/dashboard/"


def test_login_with_password_reaches_the_queue(client, labeler):
    response = client.post("/login/", {"username": "labeler", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/queue/"
    assert b"Assistant answers" in response.content


@pytest.mark.parametrize("url", ["/queue/", "/dashboard/"])
def test_pages_refuse_anonymous(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_queue_shows_the_members_projects_with_rendered_guidelines(client, labeler, project):
    client.force_login(labeler)
    response = client.get("/queue/")
    assert response.status_code == 200
    assert b"Assistant answers" in response.content
    assert b"<strong>correct</strong>" in response.content


def test_queue_and_dashboard_hide_other_projects_from_a_stranger(client, stranger, project):
    client.force_login(stranger)
    for url in ("/queue/", "/dashboard/"):
        response = client.get(url)
        assert response.status_code == 200
        assert b"Assistant answers" not in response.content
        assert b"Someone else" in response.content


def test_dashboard_lists_research_projects_with_constant_queries(
    client, owner, project, django_assert_max_num_queries
):
    client.force_login(owner)
    with django_assert_max_num_queries(8):
        response = client.get("/dashboard/")
    assert b"Assistant answers" in response.content


def test_empty_queue_says_what_to_do_next(client, make_user):
    client.force_login(make_user("newcomer"))
    response = client.get("/queue/")
    assert b"Ask a researcher to add you to a project" in response.content


# -- API ---------------------------------------------------------------------------------------


def test_api_refuses_anonymous():
    response = APIClient().get("/api/projects/")
    assert response.status_code in (401, 403)
    assert "error" in response.json()


def test_api_lists_only_the_callers_projects(labeler, stranger, project):
    api = APIClient()
    api.force_authenticate(labeler)
    names = [p["name"] for p in api.get("/api/projects/").json()["results"]]
    assert names == ["Assistant answers"]
    assert api.get(f"/api/projects/{project.pk}/").json()["role"] == "labeler"

    api.force_authenticate(stranger)
    names = [p["name"] for p in api.get("/api/projects/").json()["results"]]
    assert names == ["Someone else's project"]
    response = api.get(f"/api/projects/{project.pk}/")
    assert response.status_code == 404
    assert response.json() == {"error": "No Project matches the given query."}


def test_api_token_authentication(labeler):
    token = Token.objects.create(user=labeler)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.get("/api/me/").json()["username"] == "labeler"
    api.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert api.get("/api/me/").status_code == 401


def test_openapi_schema_and_docs_are_served(client, labeler):
    client.force_login(labeler)
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/projects/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()  # swagger-ui is vendored (sidecar)


def test_healthz(client):
    assert client.get("/healthz").content == b"ok"


def test_dashboard_links_every_researcher_page_of_the_project(client, owner, project):
    client.force_login(owner)
    html = client.get("/dashboard/").content.decode()
    for url in (
        f"/review/projects/{project.pk}/",
        f"/projects/{project.pk}/pipeline/",
        "/training/",
        f"/evaluation/projects/{project.pk}/",
        f"/evaluation/projects/{project.pk}/agreement/",
    ):
        assert f'href="{url}"' in html, url


def test_dashboard_gives_a_reviewer_only_the_review_link(client, reviewer, project):
    client.force_login(reviewer)
    html = client.get("/dashboard/").content.decode()
    assert f'href="/review/projects/{project.pk}/"' in html
    assert f'href="/projects/{project.pk}/pipeline/"' not in html
    assert 'href="/training/"' not in html
