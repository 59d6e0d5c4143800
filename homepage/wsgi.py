"""WSGI entry point for Apache/mod_wsgi (system Apache or mod_wsgi-express).

Settings come from the environment file that homepage.settings loads (HOMEPAGE_ENV_FILE,
default .env in the project), never from a development default.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homepage.settings")

application = get_wsgi_application()

# Apache's page rules send every public GET to a page file; a missing one comes back here.
from blog.apache import handing_back_misses  # noqa: E402  (needs the settings configured above)

application = handing_back_misses(application)

# Scheduled changes (an entry going live) start a new generation of page files on time.
from blog.cache import start_clock  # noqa: E402

start_clock()
