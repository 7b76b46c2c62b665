"""From a rendered text to what a provider adapter sends."""

from __future__ import annotations

from smsops.config.models import Template
from smsops.core.recipient import Recipient
from smsops.providers.base import Message
from smsops.render.renderer import Rendered


def message_for(rendered: Rendered, recipient: Recipient, template: Template) -> Message:
    """The provider-neutral message: AOC's `unicode: 1` follows `rendered.encoding` exactly."""
    wanted = template.provider_template
    return Message(
        recipient=recipient.phone,
        text=rendered.text,
        category=template.category,
        ucs2=rendered.encoding == "UCS-2",
        flash=template.flash,
        template_id=wanted.id if wanted else None,
        template_form=wanted.send if wanted else "custom",
        custom=rendered.custom,
        region=recipient.region,
    )
