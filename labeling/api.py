from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from labeling.models import Project
from labeling.selectors import project_list_for_user, role_for_user


class ProjectSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", "name", "slug", "description", "guidelines", "task_types", "role"]

    def get_role(self, project: Project) -> str | None:
        return role_for_user(user=self.context["request"].user, project=project)


class ProjectViewSet(viewsets.ReadOnlyModelViewSet):
    """Projects the caller is a member of; others do not exist for them (404)."""

    serializer_class = ProjectSerializer

    def get_queryset(self):
        return project_list_for_user(user=self.request.user).order_by("id")


class MeSerializer(serializers.ModelSerializer):
    class Meta:
        model = get_user_model()
        fields = ["id", "username", "is_superuser"]


@extend_schema(responses=MeSerializer)
@api_view(["GET"])
def me(request: Request) -> Response:
    """Who the caller is (session or `Authorization: Token …`)."""
    return Response(MeSerializer(request.user).data)
