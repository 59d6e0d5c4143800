from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from blog import spam
from blog.models import Comment, Entry


class CommentForm(forms.ModelForm):
    # Hidden from people by CSS; bots that fill every field give themselves away.
    website = forms.CharField(required=False, label=_("Leave this field empty"))

    class Meta:
        model = Comment
        fields = ["name", "text"]
        widgets = {
            # maxlength comes from the model fields.
            "text": forms.Textarea(attrs={"rows": 5}),
            "name": forms.TextInput(attrs={"autocomplete": "name"}),
        }
        labels = {"name": _("Name (optional)"), "text": _("Comment")}
        error_messages = {
            "text": {
                "required": _("Please write a comment."),
                "max_length": _(
                    "Comments are limited to %(limit_value)d characters "
                    "(this one has %(show_value)d)."
                ),
            },
            "name": {
                "max_length": _(
                    "Names are limited to %(limit_value)d characters (this one has %(show_value)d)."
                ),
            },
        }

    def __init__(self, *args, entry, **kwargs):
        self.entry = entry
        super().__init__(*args, **kwargs)

    def clean_website(self):
        if self.cleaned_data["website"]:
            # Shown above the form: the field itself is hidden, so its own error would be too.
            self.add_error(
                None,
                forms.ValidationError(
                    _(
                        "Your comment was not posted because a hidden field was filled in "
                        "(some browsers fill it in automatically). Please post again."
                    ),
                    code="honeypot",
                ),
            )
        return ""

    def clean_text(self):
        text = self.cleaned_data["text"]
        links = spam.count_links(text)
        limit = settings.BLOG_COMMENT_MAX_LINKS
        if links > limit:
            raise forms.ValidationError(
                ngettext(
                    "A comment may contain at most %(limit)d link.",
                    "A comment may contain at most %(limit)d links.",
                    limit,
                )
                % {"limit": limit},
                code="links",
            )
        return text

    def clean(self):
        cleaned = super().clean()
        if not self.entry.comments_open:
            raise forms.ValidationError(_("Comments are closed for this entry."), code="closed")
        return cleaned

    def comment_fields(self) -> dict:
        """What Comment.objects.post() stores (the honeypot is checked, not kept)."""
        return {name: self.cleaned_data[name] for name in self._meta.fields}


class SearchForm(forms.Form):
    # CharField refuses NUL characters, which PostgreSQL cannot store or compare.
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=200,
        error_messages={
            "max_length": _("Please search for at most %(limit_value)d characters."),
            "null_characters_not_allowed": _(
                "The search contains characters that are not allowed."
            ),
        },
    )


class PreviewForm(forms.Form):
    """What the admin's live preview posts: the Markdown, and the entry it belongs to."""

    body = forms.CharField(
        required=False,
        strip=False,
        max_length=settings.BLOG_PREVIEW_MAX_CHARS,
        error_messages={
            "max_length": _(
                "The preview is limited to %(limit_value)d characters (this has %(show_value)d)."
            )
        },
    )
    summary = forms.CharField(required=False, strip=False, max_length=20_000)
    entry = forms.IntegerField(required=False, min_value=1, max_value=2**62)

    def unsaved_entry(self) -> Entry:
        """The entry with the posted text (its own images found), unsaved; a new one if none."""
        data = self.cleaned_data
        entry = Entry.objects.filter(pk=data["entry"]).first() if data["entry"] else None
        entry = entry or Entry()
        entry.body, entry.summary = data["body"], data["summary"]
        return entry
