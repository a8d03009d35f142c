from rest_framework.routers import SimpleRouter

from evaluation import api

router = SimpleRouter()
router.register("evaluation/eval-sets", api.EvalSetViewSet, basename="eval-set")
router.register("evaluation/judge-templates", api.JudgeTemplateViewSet, basename="judge-template")
router.register("evaluation/judge-configs", api.JudgeConfigViewSet, basename="judge-config")
router.register("evaluation/runs", api.EvalRunViewSet, basename="eval-run")

urlpatterns = router.urls
