"""A shotgunEvents plugin, unchanged in style: log status changes of Shots and,
when shotgun_api3 is importable, note the change in the Shot's description
(the classic "set a field when a status changes"). Standard library only
otherwise.
"""
import os

try:
    import shotgun_api3  # noqa: F401 - only to know whether `sg` can write
    HAVE_API3 = True
except ImportError:
    HAVE_API3 = False


def registerCallbacks(reg):
    reg.setEmails(False)
    reg.registerCallback(
        os.environ.get("SGEVENTD_DEMO_SCRIPT", "sgeventd"),
        os.environ.get("SGEVENTD_DEMO_KEY", ""),
        statusChanged,
        {"Shotgun_Shot_Change": ["sg_status_list"]},
        None,
    )


def statusChanged(sg, logger, event, args):
    meta = event.get("meta") or {}
    if meta.get("in_create"):
        return
    shot = event["entity"]
    logger.info(
        "%s: shot %s went %s -> %s (created %s)",
        (event.get("project") or {}).get("name"),
        (shot or {}).get("name"),
        meta.get("old_value"),
        meta.get("new_value"),
        event["created_at"].strftime("%H:%M:%S %Z"),
    )
    if HAVE_API3 and shot:
        sg.update("Shot", shot["id"], {"description": "status is %s" % meta.get("new_value")})
