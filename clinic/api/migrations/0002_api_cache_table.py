"""Create the database cache table (settings.CACHES 'clinic_cache') that the API's rate limits count in.

`migrate` does not create cache tables; without this every fresh database (tests, CI, a new
install) would fail on the first rate-limited request. `createcachetable` skips existing tables.
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("api", "0001_initial")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
