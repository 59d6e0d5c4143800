"""E-mails sent when readers do something admins or other readers should know about."""

import logging

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage, get_connection, mail_admins
from django.template.loader import render_to_string
from django.urls import reverse

logger = logging.getLogger(__name__)

UNSUBSCRIBE_SALT = "blog.unsubscribe"


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


def new_reply(reply) -> None:
    """Mail each subscriber of reply's thread once about it (after it is committed and
    visible: a reply waiting for moderation is announced when an admin approves it)."""
    from blog.models import Comment  # blog.models imports this module

    try:
        if not Comment.objects.public().filter(pk=reply.pk).exists():
            return
        mails = [reply_mail(reply, subscriber) for subscriber in Comment.objects.subscribers(reply)]
        if mails:
            get_connection(fail_silently=False).send_messages(mails)
    except Exception:
        # The reply is saved; a broken mail server must not turn that into a 500.
        logger.exception("Could not send the reply notifications for comment %s", reply.pk)


def reply_mail(reply, subscriber) -> EmailMessage:
    unsubscribe = absolute(unsubscribe_url(subscriber))
    context = {
        "reply": reply,
        "entry": reply.entry,
        "reply_url": absolute(reply.get_absolute_url()),
        "unsubscribe_url": unsubscribe,
    }
    return EmailMessage(
        subject=f"New reply on “{reply.entry.title}”",
        body=render_to_string("blog/email/new_reply.txt", context),
        to=[subscriber.email],
        # RFC 8058: mail clients offer their own one-click "unsubscribe" with these.
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def absolute(path: str) -> str:
    return settings.BLOG_SITE_URL.rstrip("/") + path


def unsubscribe_url(comment) -> str:
    """A link that ends the mail about replies to comment's thread, for comment's address:
    signed, so it needs no log-in, and it names no address (it may end up in logs)."""
    token = signing.dumps(comment.pk, salt=UNSUBSCRIBE_SALT)
    return reverse("blog:unsubscribe", kwargs={"token": token})


def unsubscribe_target(token: str) -> int | None:
    """The comment an unsubscribe link was made for, or None for a forged one."""
    try:
        pk = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    return pk if isinstance(pk, int) else None
