"""Where a page sits in the navigation, derived from its URL name.

The organisation navigation follows a compliance team's day (dashboard, systems, assessments,
findings, remediation, deadlines, releases, catalogue, settings); `nav_section` marks the
current entry with aria-current, and `nav_tab` the current tab of the settings sub-navigation.
A new page gets its place here, in one table, rather than in each template.
"""

SECTIONS: dict[str, tuple[str, ...]] = {
    "dashboard": ("dashboard",),
    "systems": (
        "system_list", "system_create", "system_export", "system_detail", "system_edit",
        "system_history", "system_archive", "system_restore",
    ),
    "assessments": (
        "assessment_list", "assess_all", "assessment_detail", "assessment_report",
        "assessment_submit", "assessment_approve", "assessment_return", "batch_detail",
    ),
    "findings": ("finding_list", "finding_detail", "evidence_add", "evidence_remove"),
    "remediation": (
        "action_list", "action_create", "action_bulk", "action_detail", "action_edit",
        "action_transition", "action_comment", "action_evidence_add", "action_evidence_delete",
    ),
    "deadlines": ("deadlines",),
    "releases": ("impact_list", "release_impact"),
    "catalogue": (
        "catalogue_index", "catalogue_regulation", "catalogue_obligations",
        "catalogue_obligation", "catalogue_crosswalk", "catalogue_timeline",
    ),
    "settings": (
        "org_dashboard", "org_settings", "member_list", "member_role", "member_remove",
        "invitation_revoke", "api_key_list", "api_key_revoke", "webhook_list", "webhook_create",
        "webhook_edit", "webhook_delete", "webhook_rotate", "webhook_enable",
        "webhook_deliveries", "webhook_delivery", "webhook_delivery_replay",
        "ticketing_settings", "ticketing_save", "ticketing_rotate", "ticketing_test",
        "ticketing_sync", "ticketing_delete", "audit_log",
    ),
}  # fmt: skip

# Settings tabs: URL name → tab. Pages of one tab (a webhook's deliveries) share its tab.
TABS: dict[str, str] = {
    "org_dashboard": "overview",
    "org_settings": "general",
    **dict.fromkeys(
        ("member_list", "member_role", "member_remove", "invitation_revoke"), "members"
    ),
    **dict.fromkeys(("api_key_list", "api_key_revoke"), "api_keys"),
    **{name: "webhooks" for name in SECTIONS["settings"] if name.startswith("webhook_")},
    **{name: "ticketing" for name in SECTIONS["settings"] if name.startswith("ticketing_")},
    "audit_log": "audit",
}

SECTION_OF: dict[str, str] = {
    name: section for section, names in SECTIONS.items() for name in names
}


def place(url_name: str | None) -> tuple[str, str]:
    """(section, settings tab) of the page named `url_name`; empty strings when it has none."""
    if not url_name:
        return "", ""
    return SECTION_OF.get(url_name, ""), TABS.get(url_name, "")
