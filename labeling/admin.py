from django.contrib import admin

from labeling.models import DatasetSnapshot, Membership, Project


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["project", "user", "role"]
    list_filter = ["role", "project"]
    autocomplete_fields = ["user", "project"]


@admin.register(DatasetSnapshot)
class DatasetSnapshotAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "kind", "status", "content_hash", "created_at"]
    list_filter = ["kind", "status", "project"]
    readonly_fields = [f.name for f in DatasetSnapshot._meta.fields]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # snapshots are immutable; a new recipe makes a new snapshot
