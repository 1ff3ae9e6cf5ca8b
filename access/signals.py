"""A key that is revoked or deleted closes its open connections at once.

The key's sockets are in a channel-layer group (guard.Client.group), so this reaches every web
process sharing the layer. Sockets the message cannot reach (an in-memory layer in another
process) find out when they next refresh their connection record.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .guard import key_group
from .models import APIKey

logger = logging.getLogger(__name__)


def close_connections_of(key_id: int) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(key_group(key_id), {"type": "access.revoked"})
    except Exception as error:  # they still find out on their next refresh
        logger.warning("Could not tell the connections of a revoked key at once: %s", error)


@receiver(post_save, sender=APIKey)
def key_saved(sender: type[APIKey], instance: APIKey, **kwargs: Any) -> None:
    if instance.revoked is not None:
        close_connections_of(instance.pk)


@receiver(post_delete, sender=APIKey)
def key_deleted(sender: type[APIKey], instance: APIKey, **kwargs: Any) -> None:
    close_connections_of(instance.pk)
