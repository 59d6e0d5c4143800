"""Print static/css/code.css: Pygments' colours for highlighted code, light and dark."""

from django.core.management.base import BaseCommand
from pygments.formatters import HtmlFormatter

LIGHT, DARK = "default", "github-dark"
SCOPE = ".codehilite"


class Command(BaseCommand):
    help = (
        "Print the stylesheet for code blocks (Pygments classes, light and dark): "
        "manage.py code_css > static/css/code.css"
    )

    def handle(self, **options):
        self.stdout.write(stylesheet(), ending="")


def stylesheet() -> str:
    light = HtmlFormatter(style=LIGHT).get_style_defs(SCOPE)
    dark = HtmlFormatter(style=DARK).get_style_defs(SCOPE)
    indented = "".join(f"  {line}\n" for line in dark.splitlines())
    return (
        f"/* Made by manage.py code_css (Pygments styles {LIGHT!r} and {DARK!r}); "
        "do not edit. */\n"
        f"{light}\n"
        "/* Over site.css's grey <pre>: the style's own background and text colour. */\n"
        ".entry-body .codehilite pre { margin: 0; padding: 0; background: inherit; color: inherit; }\n"
        ".codehilite { padding: .75rem; border-radius: .25rem; overflow-x: auto; }\n"
        f"@media (prefers-color-scheme: dark) {{\n{indented}}}\n"
    )
