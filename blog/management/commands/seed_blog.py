import random
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from blog.models import Comment, Entry

WORDS = [
    "apache",
    "thread",
    "request",
    "django",
    "sqlite",
    "model",
    "view",
    "template",
    "cache",
    "worker",
    "process",
    "query",
    "index",
    "deploy",
    "release",
    "python",
    "session",
    "connection",
    "server",
    "static",
    "comment",
    "entry",
    "café",
    "naïve",
    "Grüße",
    "migration",
    "schema",
    "timestamp",
]
NAMES = ["alice", "bob", "Chloë", "José", "kim", "O'Neil", "", "grégoire"]


class Command(BaseCommand):
    help = "Fill the database with deterministic demo entries and comments."

    def add_arguments(self, parser):
        parser.add_argument("--entries", type=int, default=12)
        parser.add_argument("--comments-per-entry", type=int, default=3)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when entries exist."
        )

    def handle(self, *args, entries, comments_per_entry, seed, if_empty, **options):
        if if_empty and Entry.objects.exists():
            self.stdout.write("The database has entries already; nothing added.")
            return
        rng = random.Random(seed)
        now = timezone.now()
        with transaction.atomic():
            for i in range(entries):
                words = rng.choices(WORDS, k=rng.randint(3, 7))
                entry = Entry.objects.create(
                    title=" ".join(words).capitalize(),
                    body="\n\n".join(
                        " ".join(rng.choices(WORDS, k=rng.randint(20, 60))).capitalize() + "."
                        for _ in range(rng.randint(1, 4))
                    ),
                    timestamp=now - timedelta(days=i * 3, minutes=rng.randint(0, 999)),
                    featured=i % 5 == 0,
                )
                Comment.objects.bulk_create(
                    Comment(
                        entry=entry,
                        name=rng.choice(NAMES),
                        text=" ".join(rng.choices(WORDS, k=rng.randint(5, 30))).capitalize() + ".",
                        created=entry.timestamp + timedelta(hours=j + 1),
                    )
                    for j in range(comments_per_entry)
                )
        self.stdout.write(f"Added {entries} entries with {comments_per_entry} comments each.")
