"""Files people attach in Slack (a thread reply's file_share, the form's file input), as
models.outbound_media takes them."""

from __future__ import annotations

from typing import Any

from models.outbound_media import OutboundFile


def attached_files(files: Any) -> list[OutboundFile]:
    """The files as Slack describes them (a file Slack describes only by id, `file_access:
    check_file_info`, has no type or size here, and is refused as of an unknown type)."""
    attached = []
    for file in files if isinstance(files, list) else []:
        if not isinstance(file, dict):
            continue
        size, url = file.get("size"), file.get("url_private_download") or file.get("url_private")
        attached.append(
            OutboundFile(
                file_id=str(file.get("id") or ""),
                name=str(file.get("name") or file.get("title") or ""),
                content_type=str(file.get("mimetype") or ""),
                size=size if isinstance(size, int) else None,
                url=url if isinstance(url, str) else None,
            )
        )
    return attached
