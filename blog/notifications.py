"""E-mails sent when readers do something admins should know about."""

import logging

from django.conf import settings
from django.core.mail import mail_admins
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)


def new_comment(comment) -> None:
    """Tell the site admins about a new comment (after the comment is committed)."""
    if not settings.BLOG_COMMENTS_NOTIFY_ADMINS:
        return
    subject = f"New comment on “{comment.entry.title}”"
    body = render_to_string("blog/email/new_comment.txt", {"comment": comment})
    try:
        mail_admins(subject, body, fail_silently=False)
    except Exception:
        # The comment is saved; a broken mail server must not turn that into a 500.
        logger.exception("Could not send the new-comment notification")
