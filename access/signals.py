"""A key that is revoked or deleted closes its open connections at once.

The key's sockets are in a channel-layer group (guard.Client.group), so this reaches every web
process sharing the layer. Sockets the message cannot reach (an in-memory layer in another
process, such as `manage.py revoke_api_key` run beside `make run`) find out when they next
check their key, within TTS_KEY_CHECK_SECONDS, and no request starts with a revoked key.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .guard import forget_key_lookup, key_group
from .models import APIKey

logger = logging.getLogger(__name__)


def close_connections_of(key_id: int) -> None:
    forget_key_lookup(key_id)
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(key_group(key_id), {"type": "access.revoked"})
    except Exception as error:  # they still find out on their next check
        logger.warning("Could not tell the connections of a revoked key at once: %s", error)


def close_connections_after_commit(key_id: int) -> None:
    # Not before: a client told to go could otherwise reconnect while the database still
    # says the key is active (the admin deletes in a transaction).
    transaction.on_commit(lambda: close_connections_of(key_id))


@receiver(post_save, sender=APIKey)
def key_saved(sender: type[APIKey], instance: APIKey, **kwargs: Any) -> None:
    if instance.revoked is not None:
        close_connections_after_commit(instance.pk)


@receiver(post_delete, sender=APIKey)
def key_deleted(sender: type[APIKey], instance: APIKey, **kwargs: Any) -> None:
    close_connections_after_commit(instance.pk)
