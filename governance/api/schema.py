"""The API's OpenAPI generator (drf-spectacular's, adjusted). It lives apart from conventions.py
because DRF imports the schema class while its own views module is still loading."""

from drf_spectacular.openapi import AutoSchema


class Schema(AutoSchema):
    """drf-spectacular's schema, told that the problem responses keyed (status, media type) are
    not the operation's main response (it would otherwise pick them to decide list vs object)."""

    def _is_list_view(self, serializer=None) -> bool:
        if serializer is None:
            serializer = self.get_response_serializers()
        if isinstance(serializer, dict):
            main = {
                code: s
                for code, s in serializer.items()
                if int(str(code[0] if isinstance(code, tuple) else code)[:3]) < 400
            }
            serializer = main or serializer
        return super()._is_list_view(serializer)

    def _map_serializer(self, serializer, direction, bypass_extensions=False):
        """A body that refuses fields it does not know (StrictInput) says so in the schema, so
        clients and generated tests do not send them."""
        from .conventions import StrictInput  # conventions imports DRF's views, which import us

        result = super()._map_serializer(serializer, direction, bypass_extensions)
        if direction == "request" and isinstance(serializer, StrictInput):
            result["additionalProperties"] = False
        return result


# OpenAPI links: how a response's codes feed the next calls, so clients (and schemathesis's
# stateful tests, tests/security/test_stateful_api.py) can follow system → assessment → findings
# and action → comments, evidence and tickets. (operationId, status) -> {link: (target, params)}.
_ORG = {"org_code": "$request.path.org_code"}
_SYSTEM = {**_ORG, "system_code": "$response.body#/code"}
_ACTION = {**_ORG, "action_code": "$response.body#/code"}
_IN_ACTION = {**_ORG, "action_code": "$request.path.action_code"}
_WEBHOOK = {**_ORG, "webhook_code": "$response.body#/code"}
LINKS: dict[tuple[str, str], dict[str, tuple[str, dict[str, str]]]] = {
    ("systems_create", "201"): {
        "ReadSystem": ("systems_retrieve", _SYSTEM),
        "ChangeSystem": ("systems_partial_update", _SYSTEM),
        "ReadAnswers": ("systems_answers_retrieve", _SYSTEM),
        "ReplaceAnswers": ("systems_answers_update", _SYSTEM),
        "AssessSystem": ("systems_assessments_create", _SYSTEM),
        "ListAssessments": ("systems_assessments_list", _SYSTEM),
    },
    ("systems_archive", "204"): {
        "RestoreSystem": ("systems_restore", {**_ORG, "system_code": "$request.path.system_code"}),
    },
    ("systems_assessments_create", "202"): {
        # Archiving comes after assessing, so a chain does not archive what it is about to assess.
        "ArchiveSystem": ("systems_archive", {**_ORG, "system_code": "$request.path.system_code"}),
        "ReadAssessment": (
            "assessments_retrieve",
            {**_ORG, "assessment_code": "$response.body#/code"},
        ),
        "ListFindings": (
            "assessments_findings_list",
            {**_ORG, "assessment_code": "$response.body#/code"},
        ),
    },
    ("assessments_findings_list", "200"): {
        "ReadFinding": (
            "findings_retrieve",
            {**_ORG, "finding_code": "$response.body#/results/0/code"},
        ),
        "ReviewFinding": (
            "findings_partial_update",
            {**_ORG, "finding_code": "$response.body#/results/0/code"},
        ),
    },
    ("orgs_actions_create", "201"): {
        "ReadAction": ("orgs_actions_retrieve", _ACTION),
        "ChangeAction": ("orgs_actions_partial_update", _ACTION),
        "Comment": ("orgs_actions_comments_create", _ACTION),
        "ListComments": ("orgs_actions_comments_list", _ACTION),
        "AttachEvidence": ("orgs_actions_evidence_create", _ACTION),
        "ListEvidence": ("orgs_actions_evidence_list", _ACTION),
        "OpenTicket": ("orgs_actions_tickets_create", _ACTION),
        "DeleteAction": ("orgs_actions_destroy", _ACTION),
    },
    ("orgs_actions_comments_create", "201"): {
        "ListComments": ("orgs_actions_comments_list", _IN_ACTION),
    },
    ("orgs_actions_evidence_create", "201"): {
        "ReadEvidence": (
            "orgs_actions_evidence_retrieve",
            {**_IN_ACTION, "attachment_code": "$response.body#/code"},
        ),
        "RemoveEvidence": (
            "orgs_actions_evidence_destroy",
            {**_IN_ACTION, "attachment_code": "$response.body#/code"},
        ),
    },
    ("orgs_actions_tickets_create", "201"): {
        "ReadTicket": (
            "orgs_actions_tickets_retrieve",
            {**_IN_ACTION, "ticket_code": "$response.body#/code"},
        ),
        "ChangeTicket": (
            "orgs_actions_tickets_partial_update",
            {**_IN_ACTION, "ticket_code": "$response.body#/code"},
        ),
        "Unlink": (
            "orgs_actions_tickets_destroy",
            {**_IN_ACTION, "ticket_code": "$response.body#/code"},
        ),
    },
    ("webhooks_create", "201"): {
        "ReadWebhook": ("webhooks_retrieve", _WEBHOOK),
        "ChangeWebhook": ("webhooks_partial_update", _WEBHOOK),
        "RotateSecret": ("webhooks_rotate_secret", _WEBHOOK),
        "ListDeliveries": ("webhooks_deliveries_list", _WEBHOOK),
        "DeleteWebhook": ("webhooks_destroy", _WEBHOOK),
    },
}


def add_links(result: dict, generator, request, public) -> dict:
    """drf-spectacular post-processing hook: put LINKS into the operations' responses."""
    operations = {
        operation["operationId"]: operation
        for item in result.get("paths", {}).values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    for (source, status), links in LINKS.items():
        response = operations[source]["responses"][status]
        response["links"] = {
            name: {"operationId": target, "parameters": dict(parameters)}
            for name, (target, parameters) in links.items()
            if target in operations
        }
    return result
