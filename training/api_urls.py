from rest_framework.routers import SimpleRouter

from training import api

router = SimpleRouter()
router.register("training/jobs", api.TrainingJobViewSet, basename="training-job")
router.register("training/adapters", api.AdapterViewSet, basename="training-adapter")

urlpatterns = router.urls
