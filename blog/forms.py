from django import forms
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from blog import spam
from blog.models import Comment, Entry


def https_by_default(db_field, **kwargs):
    """Model form fields, with "example.org" in a URL field read as https://example.org."""
    if isinstance(db_field, models.URLField):
        kwargs["assume_scheme"] = "https"
    return db_field.formfield(**kwargs)


class CommentForm(forms.ModelForm):
    # Hidden from people by CSS; bots that fill every field give themselves away. Named as
    # WordPress names its website field, which spam bots fill in without looking.
    url = forms.CharField(required=False, label=_("Leave this field empty"))
    reply_to = forms.IntegerField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = Comment
        fields = ["name", "email", "website", "text", "notify"]
        formfield_callback = https_by_default
        widgets = {
            # maxlength comes from the model fields.
            "text": forms.Textarea(attrs={"rows": 5}),
            "name": forms.TextInput(attrs={"autocomplete": "name"}),
            "email": forms.EmailInput(attrs={"autocomplete": "email"}),
            "website": forms.URLInput(attrs={"autocomplete": "url"}),
        }
        labels = {
            "name": _("Name (optional)"),
            "email": _("E-mail (optional, never shown)"),
            "website": _("Website (optional)"),
            "text": _("Comment"),
            "notify": _("Tell me about replies"),
        }
        help_texts = {"email": "", "website": "", "notify": ""}
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
            "email": {"invalid": _("Please give a valid e-mail address, or none.")},
            "website": {
                "invalid": _("Please give a web address starting with http:// or https://."),
                "max_length": _(
                    "Web addresses are limited to %(limit_value)d characters "
                    "(this one has %(show_value)d)."
                ),
            },
        }

    def __init__(self, *args, entry, user=None, **kwargs):
        self.entry = entry
        # Staff comment as themselves: their account gives the name, and they follow
        # conversations in the admin rather than by mail.
        self.user = user if user is not None and user.is_staff else None
        super().__init__(*args, **kwargs)
        self.parent = None
        if self.user is not None:
            for name in ("name", "email", "website", "notify", "url"):
                del self.fields[name]
        else:
            self.fields["notify"].label_suffix = ""  # a checkbox's label follows it

    def clean_url(self):
        if self.cleaned_data["url"]:
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

    def clean_name(self):
        name = self.cleaned_data["name"]
        if spam.impersonates_author(name):
            raise forms.ValidationError(
                _(
                    "“%(name)s” is the author’s name (or reads like it). Please comment "
                    "under a name of your own."
                ),
                code="impersonation",
                params={"name": name},
            )
        return name

    def clean_reply_to(self):
        pk = self.cleaned_data["reply_to"]
        if pk is None:
            return None
        self.parent = self.entry.comments.public().filter(pk=pk).first()
        if self.parent is None:
            raise forms.ValidationError(
                _(
                    "The comment you are answering is no longer shown. Copy your text and "
                    "post it as a new comment."
                ),
                code="parent_gone",
            )
        return pk

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
        if cleaned.get("notify") and not cleaned.get("email"):
            self.add_error("email", _("Please give your e-mail address to hear about replies."))
        return cleaned

    def comment_fields(self) -> dict:
        """What Comment.objects.post() stores (the honeypot is checked, not kept)."""
        fields = {
            name: self.cleaned_data[name] for name in self._meta.fields if name in self.fields
        }
        fields.setdefault("name", "")
        return {**fields, "parent": self.parent, "user": self.user}


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
