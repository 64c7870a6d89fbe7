"""Merge fields in a text: {name} and {first_name}, filled per recipient."""

from __future__ import annotations

import re

from models.tables import Contact

MERGE_FIELD = re.compile(r"\{(first_name|name)\}")
DEFAULT_FALLBACK = "there"


def fill_merge_fields(text: str, contact: Contact, fallback: str = DEFAULT_FALLBACK) -> str:
    """{name} and {first_name} become the contact's, or the fallback for a nameless one."""
    name = (contact.name or "").strip()
    values = {"name": name or fallback, "first_name": name.split()[0] if name else fallback}
    return MERGE_FIELD.sub(lambda match: values[match.group(1)], text)
