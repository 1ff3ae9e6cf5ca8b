"""The admin under the product's name: templates/admin/base_site.html shows these, with the
product's icon and stylesheet."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class SpeechAdminSite(admin.AdminSite):
    site_header = "Text-to-speech server"
    site_title = "Text-to-speech server"
    index_title = "Administration"
    # The header links to the demo page under that name, for the logged-out too; Django's
    # "View site" would be a second link to it.
    site_url = None


class SpeechAdminConfig(AdminConfig):
    """django.contrib.admin, with `admin.site` a SpeechAdminSite."""

    default_site = "ttsproject.admin_site.SpeechAdminSite"
