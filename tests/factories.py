from datetime import timedelta

import factory
from django.utils import timezone

from governance.models import ApiKey, Invitation, Membership, Organisation, Role, User

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    full_name = factory.Faker("name")
    password = factory.django.Password(PASSWORD)


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Organisation {n}")
    time_zone = "Europe/Brussels"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organisation = factory.SubFactory(OrganisationFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.CONTRIBUTOR


class ApiKeyFactory(factory.django.DjangoModelFactory):
    """A key row without a usable token (tests that call the API use `apikeys.api_key_create`)."""

    class Meta:
        model = ApiKey

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"Key {n}")
    prefix = factory.Sequence(lambda n: f"f{n:011x}")
    secret_hash = "0" * 64
    scope = "read"


class InvitationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invitation

    organisation = factory.SubFactory(OrganisationFactory)
    email = factory.Sequence(lambda n: f"invitee{n}@example.com")
    role = Role.CONTRIBUTOR
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))


# --- The AI system registry -----------------------------------------------------------------

# Answers for an EU and Japan high-risk hiring tool that the organisation builds and uses:
# every question the real catalogue asks for it, answered "no" unless said otherwise.
HIRING_TOOL_ANSWERS = {
    "markets": ["EU", "JP"],
    "eu_roles": ["provider", "deployer"],
    "jp_roles": ["developer", "business_user"],
    "is_sme": False,
    "established_in_eu": True,
    "deployer_public_status": "neither",
    "art25_triggers": [],
    "military_use": False,
    "research_only": False,
    "pre_market_research": False,
    "personal_use_only": False,
    "open_source_release": False,
    "manipulative_techniques": False,
    "exploits_vulnerabilities": False,
    "generates_ncii": False,
    "generates_csam": False,
    "social_scoring": False,
    "crime_risk_prediction": "no",
    "untargeted_face_scraping": False,
    "workplace_emotion_inference": "no",
    "sensitive_biometric_categorisation": "no",
    "realtime_rbi_law_enforcement": "no",
    "annex1_product": False,
    "annex3_use_cases": ["4a"],
    "art6_3_narrow_procedural": False,
    "art6_3_improves_human_result": False,
    "art6_3_detects_patterns": False,
    "art6_3_preparatory": False,
    "profiles_natural_persons": True,
    "interacts_with_people": True,
    "generates_synthetic_content": False,
    "emotion_or_biometric_categorisation": False,
    "generates_deep_fakes": False,
    "publishes_public_interest_text": False,
    "provides_gpai_model": False,
    "advanced_ai_system": False,
    "uses_generative_ai": False,
    "processes_personal_data": True,
    "special_care_data": False,
    "shares_personal_data_with_vendor_for_training": False,
    "transfers_personal_data_abroad": True,
}

# A chatbot used only in Japan by its business user.
JAPAN_CHATBOT_ANSWERS = {
    "markets": ["JP"],
    "jp_roles": ["business_user"],
    "is_sme": True,
    "uses_generative_ai": True,
    "processes_personal_data": False,
}


def _current_release():
    from governance.models import CatalogueRelease

    return CatalogueRelease.objects.get(is_current=True)


class AISystemFactory(factory.django.DjangoModelFactory):
    """A registered system on the current release (load a catalogue first)."""

    class Meta:
        model = "governance.AISystem"

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"System {n}")
    description = "Screens job applications."
    release = factory.LazyFunction(_current_release)
    answers = factory.LazyFunction(lambda: dict(HIRING_TOOL_ANSWERS))
    markets = factory.LazyAttribute(lambda o: list(o.answers.get("markets", [])))
    eu_roles = factory.LazyAttribute(lambda o: [f"eu.{r}" for r in o.answers.get("eu_roles", [])])
    jp_roles = factory.LazyAttribute(lambda o: [f"jp.{r}" for r in o.answers.get("jp_roles", [])])


class AssessmentFactory(factory.django.DjangoModelFactory):
    """A completed assessment row (no findings; run the service for real ones)."""

    class Meta:
        model = "assessments.Assessment"

    system = factory.SubFactory(AISystemFactory)
    organisation = factory.SelfAttribute("system.organisation")
    release = factory.SelfAttribute("system.release")
    status = "completed"
    source = "web"
    answers = factory.SelfAttribute("system.answers")
    system_version = 1

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # As a run does: a completed assessment becomes its system's latest.
        if kwargs.get("status") == "completed" and "latest" not in kwargs:
            model_class.objects.filter(system=kwargs["system"], latest=True).update(latest=False)
            kwargs["latest"] = True
        return super()._create(model_class, *args, **kwargs)


def _obligation(release, code: str):
    from governance.models import Obligation

    return Obligation.objects.get(release=release, code=code)


class FindingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "assessments.Finding"

    assessment = factory.SubFactory(AssessmentFactory)
    organisation = factory.SelfAttribute("assessment.organisation")
    system = factory.SelfAttribute("assessment.system")
    obligation = factory.LazyAttribute(lambda o: _obligation(o.assessment.release, "EU-AIA-ART9"))
    obligation_code = factory.SelfAttribute("obligation.code")
    obligation_digest = "0" * 16
    regulation_code = "EU-AIA"
    jurisdiction = "EU"
    legal_force = "binding"
    roles = factory.LazyFunction(lambda: ["eu.provider"])
    applies_from = factory.SelfAttribute("obligation.applies_from")


class EvidenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "assessments.Evidence"

    finding = factory.SubFactory(FindingFactory)
    organisation = factory.SelfAttribute("finding.organisation")
    title = "Risk register"
    url = factory.Sequence(lambda n: f"https://docs.example.com/risk-register-{n}")


class AssessmentBatchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "assessments.AssessmentBatch"

    organisation = factory.SubFactory(OrganisationFactory)
    release = factory.LazyFunction(_current_release)
    total = 1


class RemediationActionFactory(factory.django.DjangoModelFactory):
    """A manual action on one finding (pass `findings=[...]` to link others)."""

    class Meta:
        model = "assessments.RemediationAction"
        skip_postgeneration_save = True

    system = factory.SubFactory(AISystemFactory)
    organisation = factory.SelfAttribute("system.organisation")
    title = factory.Sequence(lambda n: f"Close gap {n}")
    status = "open"
    priority = "medium"

    @factory.post_generation
    def findings(self, create, extracted, **kwargs):
        if not create or extracted is None:
            return
        from assessments.models import ActionFinding

        for finding in extracted:
            ActionFinding.objects.create(
                organisation_id=self.organisation_id, action=self, finding=finding
            )


class ActionEvidenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "assessments.ActionEvidence"

    action = factory.SubFactory(RemediationActionFactory)
    organisation = factory.SelfAttribute("action.organisation")
    kind = "link"
    title = factory.Sequence(lambda n: f"Document {n}")
    url = factory.Sequence(lambda n: f"https://docs.example.com/{n}")


class WebhookEndpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "assessments.WebhookEndpoint"

    organisation = factory.SubFactory(OrganisationFactory)
    url = factory.Sequence(lambda n: f"https://hooks.example.com/{n}")
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class WebhookDeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "assessments.WebhookDelivery"

    endpoint = factory.SubFactory(WebhookEndpointFactory)
    organisation = factory.SelfAttribute("endpoint.organisation")
    event = factory.SubFactory(
        "tests.factories.WebhookEventFactory", organisation=factory.SelfAttribute("..organisation")
    )


class WebhookEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "assessments.WebhookEvent"

    organisation = factory.SubFactory(OrganisationFactory)
    type = "action.updated"
    payload = factory.LazyAttribute(lambda e: {"type": e.type, "timestamp": "", "data": {}})


# --- Added for the tenant-isolation matrix (tests/security/test_isolation_matrix.py) ---------


class AISystemVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "governance.AISystemVersion"

    system = factory.SubFactory(AISystemFactory)
    organisation = factory.SelfAttribute("system.organisation")
    number = factory.Sequence(lambda n: n + 1)
    data = factory.LazyAttribute(lambda v: {"name": v.system.name})


class ActionCommentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "assessments.ActionComment"

    action = factory.SubFactory(RemediationActionFactory)
    organisation = factory.SelfAttribute("action.organisation")
    body = factory.Sequence(lambda n: f"Comment {n}")


class TicketingConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "assessments.TicketingConnection"

    organisation = factory.SubFactory(OrganisationFactory)
    system = "jira"
    base_url = "https://tickets.example.com"
    username = factory.Sequence(lambda n: f"bot{n}@example.com")
    token = "not-a-real-token"
    project_key = "KK"
    inbound_secret = "not-a-real-secret"


class ExternalTicketFactory(factory.django.DjangoModelFactory):
    """A ticket recorded by hand (no connection keeps it, so it can be edited)."""

    class Meta:
        model = "assessments.ExternalTicket"

    action = factory.SubFactory(RemediationActionFactory)
    organisation = factory.SelfAttribute("action.organisation")
    system = "github"
    external_key = factory.Sequence(lambda n: f"#{n}")
    sync_state = "manual"
    needs_sync = False


class WebhookAttemptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "assessments.WebhookAttempt"

    delivery = factory.SubFactory(WebhookDeliveryFactory)
    organisation = factory.SelfAttribute("delivery.organisation")
    number = 1
    response_status = 500


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "assessments.Notification"

    recipient = factory.SubFactory(UserFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    kind = "assigned"
    key = factory.Sequence(lambda n: f"test:{n}")
    data = factory.LazyFunction(dict)


def obligations(release, jurisdiction: str, n: int) -> list:
    """The first `n` obligations of a jurisdiction in a release, by code."""
    from governance.models import Obligation

    found = list(
        Obligation.objects.filter(release=release, regulation__jurisdiction=jurisdiction)
        .select_related("regulation", "provision")
        .order_by("code")[:n]
    )
    assert len(found) == n
    return found
