from django import forms
from django.contrib import admin
from django.core.files.storage import default_storage
from django.db import models
from django.db.models import Count, F
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from blog.images import EXTENSIONS
from blog.models import Comment, Entry, EntryImage, Page, TaggedEntry


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
    fields = ["name", "text", "parent", "created", "is_public"]
    readonly_fields = ["parent", "created"]


class ThreadFilter(admin.SimpleListFilter):
    title = _("thread")
    parameter_name = "thread"

    def lookups(self, request, model_admin):
        return [("first", _("First comments")), ("replies", _("Replies"))]

    def queryset(self, request, queryset):
        if self.value() == "first":
            return queryset.filter(parent=None)
        if self.value() == "replies":
            return queryset.exclude(parent=None)
        return queryset


class EntryImageInline(admin.TabularInline):
    model = EntryImage
    extra = 1
    fields = ["image", "alt", "thumbnail", "markdown"]
    readonly_fields = ["thumbnail", "markdown"]
    formfield_overrides = {
        # The browser offers only what the server accepts (it checks again with Pillow).
        EntryImage._meta.get_field("image").__class__: {
            "widget": forms.ClearableFileInput(
                attrs={"accept": ",".join(f"image/{kind.lower()}" for kind in EXTENSIONS)}
            )
        }
    }

    @admin.display(description=_("picture"))
    def thumbnail(self, obj):
        if not obj.renditions:
            return "—"
        width, height, name = obj.renditions[0]
        return format_html(
            '<img class="entry-image-thumbnail" src="{}" alt="" width="{}" height="{}">',
            default_storage.url(name),
            width,
            height,
        )

    @admin.display(description=_("Markdown to copy into the body"))
    def markdown(self, obj):
        if not obj.pk:
            return _("Shown once the image is saved.")
        return format_html('<code class="entry-image-markdown">{}</code>', obj.markdown)


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
    inlines = [TaggedEntryInline, EntryImageInline, CommentInline]
    readonly_fields = ["preview"]
    actions = ["publish_entries", "unpublish_entries", "feature_entries", "unfeature_entries"]
    fieldsets = [
        (None, {"fields": ["title", "slug", "summary", "body"]}),
        (_("Preview"), {"fields": ["preview"]}),
        (_("Publication"), {"fields": ["timestamp", "is_draft", "featured", "comments_enabled"]}),
    ]

    class Media:
        js = ["js/entry-preview.js"]
        css = {"all": ["css/code.css", "css/admin.css"]}

    def get_queryset(self, request):
        # Visible as readers count them (with_comment_counts); hidden are the others.
        entries = super().get_queryset(request).with_comment_counts()
        return entries.annotate(
            visible_count=F("comment_count"), hidden_count=Count("comments") - F("comment_count")
        )

    def save_model(self, request, obj, form, change):
        if "_publish" in request.POST:
            # The time the author typed in this form stands; an untouched one becomes now.
            obj.publish(keep_time=self._time_was_chosen(form, change))
        super().save_model(request, obj, form, change)
        if "_publish" in request.POST:
            self.message_user(
                request,
                format_html(
                    _('“{}” is published: <a href="{}">{}</a>'),
                    obj.title,
                    obj.get_absolute_url(),
                    obj.get_absolute_url(),
                ),
            )

    @staticmethod
    def _time_was_chosen(form, change) -> bool:
        """The author typed a publication time in this form."""
        if "timestamp" not in form.changed_data:
            return False
        # The widget shows whole seconds: an untouched time differs only in microseconds.
        initial = form.initial.get("timestamp")
        untouched = change and form.cleaned_data["timestamp"] == initial.replace(microsecond=0)
        return not untouched

    @admin.display(description=_("status"))
    def status(self, obj):
        if obj.is_draft:
            return _("Draft")
        return _("Scheduled") if obj.is_scheduled else _("Published")

    @admin.display(description=_("rendered body"))
    def preview(self, obj):
        """The body as readers will see it: rendered as saved, then live while typing."""
        # body_html is the allow-listed output of blog.markup, safe to show as HTML.
        return format_html(
            '<div class="entry-preview entry-body" data-preview-url="{}" data-entry="{}" '
            'aria-live="polite">{}</div>',
            reverse("blog:preview"),
            obj.pk or "",
            mark_safe(obj.body_html),
        )

    @admin.display(description=_("visible comments"), ordering="visible_count")
    def visible_comments(self, obj):
        return obj.visible_count

    @admin.display(description=_("hidden comments"), ordering="hidden_count")
    def hidden_comments(self, obj):
        return obj.hidden_count

    @admin.action(description=_("Publish the selected entries"))
    def publish_entries(self, request, queryset):
        # One save() each: the same rule as the button, old links kept, signals sent.
        entries = list(queryset.filter(is_draft=True))
        for entry in entries:
            entry.publish()
            entry.save()
        self.message_user(
            request,
            ngettext("%d entry is published.", "%d entries are published.", len(entries))
            % len(entries),
        )

    @admin.action(description=_("Unpublish the selected entries (back to drafts)"))
    def unpublish_entries(self, request, queryset):
        count = queryset.update(is_draft=True)
        self.message_user(
            request,
            ngettext("%d entry is a draft now.", "%d entries are drafts now.", count) % count,
        )

    @admin.action(description=_("Feature the selected entries"))
    def feature_entries(self, request, queryset):
        self._set_featured(request, queryset, True)

    @admin.action(description=_("Stop featuring the selected entries"))
    def unfeature_entries(self, request, queryset):
        self._set_featured(request, queryset, False)

    def _set_featured(self, request, queryset, featured):
        count = queryset.update(featured=featured)
        message = (
            ngettext("%d entry is featured.", "%d entries are featured.", count)
            if featured
            else ngettext(
                "%d entry is no longer featured.", "%d entries are no longer featured.", count
            )
        )
        self.message_user(request, message % count)


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = [
        "short_text", "entry", "name", "reply_to", "by_author", "created", "is_public", "is_spam",
        "ip_address",
    ]  # fmt: skip
    list_filter = ["is_public", "is_spam", ThreadFilter, "created"]
    search_fields = ["text", "name", "email", "entry__title"]
    list_select_related = ["entry", "parent"]
    date_hierarchy = "created"
    ordering = ["-created", "-id"]
    raw_id_fields = ["entry", "parent", "user"]
    actions = ["show_comments", "hide_comments", "mark_spam"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description=_("comment"))
    def short_text(self, obj):
        return obj.text if len(obj.text) <= 60 else obj.text[:59] + "…"

    def save_model(self, request, obj, form, change):
        # Ticking "visible" approves like the list's action: subscribers hear of the reply.
        approving = change and "is_public" in form.changed_data and obj.is_public
        if approving:
            obj.is_public = False
        super().save_model(request, obj, form, change)
        if approving:
            Comment.objects.filter(pk=obj.pk).approve()
            obj.is_public, obj.is_spam = True, False

    @admin.display(description=_("reply to"), ordering="parent")
    def reply_to(self, obj):
        if obj.parent is None:
            return "—"
        url = reverse("admin:blog_comment_change", args=[obj.parent.pk])
        return format_html('<a href="{}">#{} {}</a>', url, obj.parent.pk, obj.parent.display_name)

    @admin.display(description=_("author"), boolean=True)
    def by_author(self, obj):
        return obj.by_author

    @admin.action(description=_("Show (approve) the selected comments"))
    def show_comments(self, request, queryset):
        count = queryset.approve()
        self.message_user(
            request,
            ngettext("%d comment is now visible.", "%d comments are now visible.", count) % count,
        )

    @admin.action(description=_("Hide the selected comments"))
    def hide_comments(self, request, queryset):
        count = queryset.update(is_public=False)
        self.message_user(
            request,
            ngettext("%d comment is now hidden.", "%d comments are now hidden.", count) % count,
        )

    @admin.action(description=_("Mark the selected comments as spam"))
    def mark_spam(self, request, queryset):
        count = queryset.mark_spam()
        self.message_user(
            request,
            ngettext(
                "%d comment is marked as spam; its address will always wait for approval.",
                "%d comments are marked as spam; their addresses will always wait for approval.",
                count,
            )
            % count,
        )


@admin.register(Page)
class PageAdmin(PreviewMixin, admin.ModelAdmin):
    list_display = ["title", "slug", "nav_order", "is_draft", "updated"]
    list_editable = ["nav_order"]
    list_filter = ["is_draft"]
    search_fields = ["title", "body"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["preview"]
    fields = ["title", "slug", "description", "body", "is_draft", "nav_order", "preview"]
