from django.contrib import admin
from django.db.models import Count, F
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from blog.models import Comment, Entry, Page, TaggedEntry


class TaggedEntryInline(admin.TabularInline):
    """Tags picked with the admin's autocomplete (taggit's TagAdmin searches by name);
    the + beside it adds a new tag."""

    model = TaggedEntry
    autocomplete_fields = ["tag"]
    extra = 1
    verbose_name = _("tag")
    verbose_name_plural = _("tags")


class PreviewMixin:
    @admin.display(description=_("rendered body"))
    def preview(self, obj):
        """The body as readers see it (as last saved): Markdown rendered and sanitised."""
        if not obj.pk:
            return _("Save to see its preview.")
        # body_html is the allow-listed output of blog.markup, safe to show as HTML.
        return format_html('<div class="entry-preview">{}</div>', mark_safe(obj.body_html))


class CommentInline(admin.TabularInline):
    model = Comment
    extra = 0
    fields = ["name", "text", "created", "is_public"]
    readonly_fields = ["created"]


@admin.register(Entry)
class EntryAdmin(PreviewMixin, admin.ModelAdmin):
    list_display = [
        "title", "timestamp", "status", "featured", "visible_comments", "hidden_comments",
    ]  # fmt: skip
    list_editable = ["featured"]
    list_filter = ["featured", "is_draft", "timestamp"]
    search_fields = ["title", "body"]
    date_hierarchy = "timestamp"
    prepopulated_fields = {"slug": ["title"]}
    ordering = ["-timestamp", "-id"]
    inlines = [TaggedEntryInline, CommentInline]
    readonly_fields = ["preview"]
    fieldsets = [
        (None, {"fields": ["title", "slug", "body"]}),
        (_("Publication"), {"fields": ["timestamp", "is_draft", "featured", "comments_enabled"]}),
        (_("Preview"), {"fields": ["preview"]}),
    ]

    def get_queryset(self, request):
        # Visible as readers count them (with_comment_counts); hidden are the others.
        entries = super().get_queryset(request).with_comment_counts()
        return entries.annotate(
            visible_count=F("comment_count"), hidden_count=Count("comments") - F("comment_count")
        )

    @admin.display(description=_("status"))
    def status(self, obj):
        if obj.is_draft:
            return _("Draft")
        return _("Scheduled") if obj.is_scheduled else _("Published")

    @admin.display(description=_("visible comments"), ordering="visible_count")
    def visible_comments(self, obj):
        return obj.visible_count

    @admin.display(description=_("hidden comments"), ordering="hidden_count")
    def hidden_comments(self, obj):
        return obj.hidden_count


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ["short_text", "entry", "name", "created", "is_public", "ip_address"]
    list_filter = ["is_public", "created"]
    search_fields = ["text", "name", "entry__title"]
    list_select_related = ["entry"]
    date_hierarchy = "created"
    ordering = ["-created", "-id"]
    raw_id_fields = ["entry"]
    actions = ["show_comments", "hide_comments"]

    @admin.display(description=_("comment"))
    def short_text(self, obj):
        return obj.text if len(obj.text) <= 60 else obj.text[:59] + "…"

    @admin.action(description=_("Show (approve) the selected comments"))
    def show_comments(self, request, queryset):
        self._set_public(request, queryset, True)

    @admin.action(description=_("Hide the selected comments"))
    def hide_comments(self, request, queryset):
        self._set_public(request, queryset, False)

    def _set_public(self, request, queryset, is_public):
        count = queryset.update(is_public=is_public)
        message = (
            ngettext("%d comment is now visible.", "%d comments are now visible.", count)
            if is_public
            else ngettext("%d comment is now hidden.", "%d comments are now hidden.", count)
        )
        self.message_user(request, message % count)


@admin.register(Page)
class PageAdmin(PreviewMixin, admin.ModelAdmin):
    list_display = ["title", "slug", "nav_order", "is_draft", "updated"]
    list_editable = ["nav_order"]
    list_filter = ["is_draft"]
    search_fields = ["title", "body"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["preview"]
    fields = ["title", "slug", "description", "body", "is_draft", "nav_order", "preview"]
