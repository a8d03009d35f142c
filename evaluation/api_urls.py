from django.urls import path
from rest_framework.routers import SimpleRouter

from evaluation import api, api_agreement, api_sets

router = SimpleRouter()
router.register("evaluation/eval-sets", api_sets.EvalSetViewSet, basename="eval-set")
router.register("evaluation/judge-templates", api.JudgeTemplateViewSet, basename="judge-template")
router.register("evaluation/judge-configs", api.JudgeConfigViewSet, basename="judge-config")
router.register("evaluation/runs", api.EvalRunViewSet, basename="eval-run")
router.register(
    "evaluation/judgment-sets", api_agreement.JudgmentSetViewSet, basename="judgment-set"
)

urlpatterns = [
    path("evaluation/runs/<int:pk>/agreement/", api_agreement.run_agreement, name="run-agreement"),
    path(
        "evaluation/runs/<int:pk>/human-tasks/",
        api_agreement.run_human_tasks,
        name="run-human-tasks",
    ),
    path(
        "evaluation/runs/<int:pk>/human-judgments/collect/",
        api_agreement.run_human_collect,
        name="run-human-collect",
    ),
    *router.urls,
]
