from django.conf import settings
from django.contrib import messages
from django.core.paginator import InvalidPage, Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST
from django.views.generic import (
    ArchiveIndexView,
    DateDetailView,
    DetailView,
    ListView,
    MonthArchiveView,
    TemplateView,
    YearArchiveView,
)

from blog import memo, notifications, spam
from blog.forms import CommentForm, PreviewForm, SearchForm
from blog.models import Comment, Entry, Page, TaggedEntry
from blog.pagination import TwoEndedPaginator
from homepage import crossorigin


class BlogViewMixin:
    # Named, so that the date views need not build get_queryset() again to learn it.
    model = Entry
    date_field = "timestamp"
    month_format = "%b"
    paginate_by = 10
    paginator_class = TwoEndedPaginator
    ordering = ["-timestamp", "-id"]  # ties broken by id so pages never overlap

    def get_queryset(self):
        # Built once per content version, a copy for each request: building its filters took
        # a tenth of an uncached list page. The clock published() reads may stay behind: the
        # version ends when a scheduled entry goes live.
        return memo.per_version("list-queryset", self.list_queryset).all()

    def list_queryset(self):
        # Lists show excerpts: the long Markdown and HTML bodies stay in the database.
        entries = Entry.objects.published().with_tags()
        return entries.defer("body", "body_html", "summary").order_by(*self.ordering)

    def get_date_list(self, queryset, date_type=None, ordering="ASC"):
        # The generic one truncates the timestamp of every entry in range (all of them on
        # the front page); this reads a few index entries per year, month or day.
        dates = queryset.dates_with_entries(date_type or self.get_date_list_period())
        if ordering == "ASC":
            dates.reverse()
        if not dates and not self.get_allow_empty():
            raise Http404(_("No entries available"))
        return dates


class SummaryListMixin:
    """Lists of entry summaries (the front page, a tag): a page's entries and tags change
    only with the content version, its comment counts with every comment, so the rows are
    read once per version and the counts once per comment ({% entry_summary %} keeps the
    rest of each summary apart from its count)."""

    def paginate_queryset(self, queryset, page_size):
        paginator, page, entries, is_paginated = super().paginate_queryset(queryset, page_size)
        key = f"list:{self.request.path}:{page.number}"  # the page number is all they ask
        rows = memo.per_version(key, lambda: list(entries))
        # Under a server's threads, each row SQLite hands to Python costs switches of the
        # interpreter lock: reading the counts for every miss was a third of its CPU under
        # 16 threads (docs/caching.md).
        counts = memo.per_version(
            f"counts:{key}", lambda: Entry.objects.comment_counts(rows), comments=True
        )
        # Copies with these counts: the rows are shared by the process's threads.
        copies = [row.shallow_copy() for row in rows]
        page.object_list = Entry.objects.add_comment_counts(copies, counts)
        return paginator, page, page.object_list, is_paginated


class EntryIndexView(SummaryListMixin, BlogViewMixin, ArchiveIndexView):
    allow_empty = True
    allow_future = True  # published() keeps scheduled entries out: no second filter on dates
    date_list_period = "year"
    featured_count = 5

    def get_date_list(self, queryset, date_type=None, ordering="ASC"):
        # The same years on every page of the index until an entry changes: once per version.
        dates = super().get_date_list
        years = memo.per_version(f"index-years:{ordering}", lambda: dates(queryset, None, ordering))
        return list(years)

    def get_paginator(self, queryset, *args, **kwargs):
        paginator = super().get_paginator(queryset, *args, **kwargs)
        # "Page 1 of N" counts every published entry (O(entries)): once per version too.
        paginator.count = memo.per_version("index-count", queryset.count)
        return paginator

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if context["page_obj"].number == 1:
            context["featured"] = memo.per_version("index-featured", self.featured)
        return context

    def featured(self) -> list[Entry]:
        featured = Entry.objects.published().filter(featured=True)
        return list(featured.only("title", "slug", "timestamp")[: self.featured_count])


class CompactListMixin:
    """Archives list titles and dates only: a longer page, and no bodies, counts or tags."""

    paginate_by = 100

    def get_queryset(self):
        return Entry.objects.published().only("title", "slug", "timestamp").order_by(*self.ordering)


class EntryYearArchiveView(CompactListMixin, BlogViewMixin, YearArchiveView):
    make_object_list = True


class EntryMonthArchiveView(CompactListMixin, BlogViewMixin, MonthArchiveView):
    pass


class TagView(SummaryListMixin, BlogViewMixin, ListView):
    """A tag's published entries, newest first."""

    template_name_suffix = "_tag"
    allow_empty = False

    def get_queryset(self):
        # Only tags of published entries: a draft's tag does not exist for readers.
        self.tag = get_object_or_404(TaggedEntry.published_tags(), slug=self.kwargs["slug"])
        return super().get_queryset().tagged(self.tag)

    def get_context_data(self, **kwargs):
        return super().get_context_data(tag=self.tag, **kwargs)


class TagIndexView(ListView):
    template_name = "blog/tag_list.html"

    def get_queryset(self):
        return TaggedEntry.published_tags()


class PageView(DetailView):
    def get_queryset(self):
        return Page.objects.published()


# Readers' comment forms carry no CSRF token (every reader gets the same page, served by
# Apache from a file): post() refuses cross-origin posts instead; staff keep Django's CSRF.
@method_decorator(csrf_exempt, name="dispatch")
class EntryDetailView(BlogViewMixin, DateDetailView):
    # Scheduled entries are filtered by published(); staff may preview them.
    allow_future = True

    def get_queryset(self):
        # No with_tags(): the parts that show tags are cached per version (sorted_tags).
        if self.request.user.is_staff:
            return Entry.objects.all()
        return Entry.objects.published()

    def get_object(self, queryset=None):
        if queryset is None and not self.request.user.is_staff:
            # What readers see of an entry changes only with writes to entries: found once
            # per version (finding it was a sixth of a comment POST). Shared by the threads.
            found = ":".join(str(self.kwargs[name]) for name in ("year", "month", "day", "slug"))
            return memo.per_version(f"entry:{found}", self._find)
        return self._find(queryset)

    def _find(self, queryset=None):
        try:
            return super().get_object(queryset)
        except OverflowError:  # 31 Dec 9999: DateDetailView cannot compute the next day
            raise Http404 from None

    def get(self, request, *args, **kwargs):
        try:
            self.object = self.get_object()
        except Http404:
            # An entry whose date or slug changed keeps its old links alive.
            entry = self.get_queryset().find_by_slug(kwargs["slug"])
            if entry is None:
                raise
            return redirect(entry, permanent=True)
        return self.render_to_response(self.get_context_data(object=self.object))

    def render_to_response(self, context, **kwargs):
        response = super().render_to_response(context, **kwargs)
        if not self.object.is_published:
            add_never_cache_headers(response)  # a staff preview
        return response

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        entry = self.object
        # Neither changes with comments: once per content version.
        neighbours = memo.per_version(f"neighbours:{entry.pk}", entry.neighbours)
        context["older"], context["newer"] = neighbours
        context["related"] = memo.per_version(f"related:{entry.pk}", lambda: list(entry.related()))
        page = context["page_obj"] = self.comment_page()
        threads = context["threads"] = entry.page_threads(page.object_list)
        # Where this page's forms and links return to.
        context["page_url"] = entry.get_comment_page_url(page.number)
        form = context.get("form")
        if form is None and self.object.comments_open:
            form = context["form"] = self.comment_form()
        if form is not None:
            # ?reply_to=<id> (a Reply link, no JavaScript) puts the form under that comment.
            shown = {pk for thread in threads for pk in thread.ids}
            asked = _int(
                form["reply_to"].value() if form.is_bound else self.request.GET.get("reply_to")
            )
            context["reply_to"] = asked if asked in shown else None
            if not form.is_bound:
                form.initial["reply_to"] = context["reply_to"]
            # The same empty form for every reader (no token): a fragment per version.
            anonymous = not self.request.user.is_authenticated
            context["form_is_plain"] = anonymous and not form.is_bound and not context["reply_to"]
        return context

    def comment_page(self):
        """This request's page of the conversation (?page=N, as on list pages): of the ids of
        its first comments, whose rows are then read for that page alone."""
        paginator = Paginator(self.object.first_comment_ids(), settings.BLOG_COMMENTS_PER_PAGE)
        try:
            return paginator.page(self.request.GET.get("page") or 1)
        except InvalidPage:
            raise Http404(_("There is no such page of comments.")) from None

    def comment_form(self, data=None):
        return CommentForm(data, entry=self.object, user=self.request.user)

    def post(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            return csrf_protect(self.post_comment)(request, *args, **kwargs)
        if crossorigin.is_cross_origin(request):
            return crossorigin.refused(request)
        return self.post_comment(request, *args, **kwargs)

    def post_comment(self, request, *args, **kwargs):
        self.object = self.get_object()
        form = self.comment_form(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        try:
            comment, created = Comment.objects.post(
                self.object, spam.client_address(request), **form.comment_fields()
            )
        except spam.RateLimited as error:
            form.add_error(None, error)
            return self.render_to_response(self.get_context_data(form=form), status=429)
        if not created:
            messages.info(request, _("You had already posted this comment."))
        elif not comment.is_public:
            messages.info(request, _("Thank you. Your comment will appear once it is approved."))
            return redirect(self.object)
        return redirect(comment)


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@method_decorator(csrf_exempt, name="dispatch")  # the signed link is the credential (RFC 8058)
@method_decorator(never_cache, name="dispatch")
class UnsubscribeView(TemplateView):
    """The link in reply mails: GET asks (mail scanners follow links), POST unsubscribes,
    also straight from a mail client's own button (List-Unsubscribe-Post)."""

    template_name = "blog/unsubscribe.html"

    def dispatch(self, request, *args, token, **kwargs):
        self.comment_pk = notifications.unsubscribe_target(token)
        if self.comment_pk is None:
            return self.render_to_response({"state": "invalid"}, status=400)
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        subscribed = Comment.objects.subscriptions(self.comment_pk).exists()
        return self.render_to_response({"state": "ask" if subscribed else "already"})

    def post(self, request, *args, **kwargs):
        ended = Comment.objects.subscriptions(self.comment_pk).update(notify=False)
        return self.render_to_response({"state": "done" if ended else "already"})


class EntrySearchView(BlogViewMixin, ListView):
    template_name_suffix = "_search"

    def get(self, request, *args, **kwargs):
        self.form = SearchForm(request.GET)
        response = super().get(request, *args, **kwargs)
        if not self.form.is_valid():
            response.status_code = 400
        return response

    def get_queryset(self):
        if not self.form.is_valid():
            return Entry.objects.none()
        # search() orders by relevance; results show no comment counts.
        return (
            Entry.objects.published()
            .search(self.form.cleaned_data["q"])
            .defer("body", "body_html", "summary")
        )

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            form=self.form, query=self.form.cleaned_data.get("q", ""), **kwargs
        )


@require_POST
def preview(request):
    """Markdown rendered as it would be saved (same renderer, same allow-list), for staff."""
    if not request.user.is_staff:
        return JsonResponse({"error": _("Only staff can preview entries.")}, status=403)
    form = PreviewForm(request.POST)
    if not form.is_valid():
        too_long = form.has_error("body", "max_length")
        message = " ".join(form.errors.get("body", [])) or _("This preview request is invalid.")
        return JsonResponse({"error": message}, status=413 if too_long else 400)
    entry = form.unsaved_entry()
    entry.render_html()
    return JsonResponse({"html": entry.body_html, "summary_html": entry.summary_html})
