from django.urls import path

from labeling import views

app_name = "labeling"

urlpatterns = [
    path("queue/", views.queue, name="queue"),
    path("projects/<int:pk>/start/", views.project_start, name="start"),
    path("tasks/<int:pk>/", views.task_detail, name="task"),
    path("tasks/<int:pk>/submit/", views.task_submit, name="submit"),
    path("tasks/<int:pk>/skip/", views.task_skip, name="skip"),
    path("tasks/<int:pk>/heartbeat/", views.task_heartbeat, name="heartbeat"),
    path("tasks/<int:pk>/leave/", views.task_leave, name="leave"),
    path("tasks/<int:pk>/preview/", views.markdown_preview, name="preview"),
    path("review/projects/<int:pk>/", views.review_list, name="review_list"),
    path("review/tasks/<int:pk>/", views.review_task, name="review_task"),
    path("review/annotations/<int:pk>/", views.review_decide, name="review_decide"),
]
