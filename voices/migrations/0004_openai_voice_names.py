from django.db import migrations

SMALLEST_DEFAULT_VOICES = "meher sophia"
OPENAI_VOICES = "alloy ash ballad coral echo fable onyx nova sage shimmer verse marin cedar"


def add_openai_names(apps, schema_editor):
    """The bundled voice also answers to OpenAI's voice names, unless an operator has changed
    its aliases (new databases get them when it is registered)."""
    Voice = apps.get_model("voices", "Voice")
    Voice.objects.using(schema_editor.connection.alias).filter(
        voice_id="joe", aliases=SMALLEST_DEFAULT_VOICES, model__source="package"
    ).update(aliases=f"{SMALLEST_DEFAULT_VOICES} {OPENAI_VOICES}")


class Migration(migrations.Migration):
    dependencies = [("voices", "0003_voice_aliases")]

    operations = [migrations.RunPython(add_openai_names, migrations.RunPython.noop)]
