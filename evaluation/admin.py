"""Admin: browse everything; actions call the same services as the pages and the API."""

from django.contrib import admin, messages

from evaluation.models import EvalQuestion, EvalRun, EvalSet, JudgeConfig, JudgeTemplate, Judgment
from evaluation.services import eval_run_cancel, eval_run_reap_lost, eval_run_resume
from flywheel.errors import DomainError


@admin.register(JudgeTemplate)
class JudgeTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "parser", "version", "project", "builtin"]
    list_filter = ["kind", "parser", "builtin"]
    readonly_fields = ["version"]

    def has_change_permission(self, request, obj=None):
        return False  # templates are immutable: a changed text is a new version


@admin.register(JudgeConfig)
class JudgeConfigAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "model", "base_url", "trials", "both_orders"]
    list_filter = ["project"]


class EvalQuestionInline(admin.TabularInline):
    model = EvalQuestion
    extra = 0
    fields = ["question_id", "category", "turns", "reference"]


@admin.register(EvalSet)
class EvalSetAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "question_count", "source", "created_at"]
    list_filter = ["project"]
    inlines = [EvalQuestionInline]


@admin.register(EvalRun)
class EvalRunAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "mode", "status", "calls_done", "calls_total", "cost"]
    list_filter = ["status", "mode", "project"]
    readonly_fields = ["results", "config_snapshot"]
    actions = ["cancel", "resume", "reap_lost"]

    def has_add_permission(self, request):
        return False  # runs are created by eval_run_create (API, command), which builds items

    def _apply(self, request, queryset, service):
        for run in queryset:
            try:
                service(run=run)
            except DomainError as exc:
                self.message_user(request, f"{run}: {exc}", messages.ERROR)

    @admin.action(description="Cancel the selected runs")
    def cancel(self, request, queryset):
        self._apply(request, queryset, eval_run_cancel)

    @admin.action(description="Resume the selected runs")
    def resume(self, request, queryset):
        self._apply(request, queryset, eval_run_resume)

    @admin.action(description="Mark runs whose worker is lost as failed (any selection)")
    def reap_lost(self, request, queryset):
        lost = eval_run_reap_lost()
        self.message_user(request, f"{len(lost)} run(s) marked failed: worker lost.")


@admin.register(Judgment)
class JudgmentAdmin(admin.ModelAdmin):
    list_display = ["id", "run", "rater", "rater_group", "order", "trial", "status", "verdict"]
    list_filter = ["status", "rater_group", "cached"]
    raw_id_fields = ["item", "run"]

    def has_add_permission(self, request):
        return False  # judge calls record themselves; people go through judgment_record
