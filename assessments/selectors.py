"""Reads for assessment pages, reports and exports."""

from governance.models import AISystem, Membership

from .models import Assessment


def system_panel(membership: Membership, system: AISystem) -> dict:
    """What the system page shows about its assessments."""
    recent = list(
        Assessment.objects.for_org(membership.organisation)
        .filter(system=system)
        .select_related("requested_by", "release")
        .order_by("-created_at", "-id")[:10]
    )
    return {"latest": recent[0] if recent else None, "recent": recent}
