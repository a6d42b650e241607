import os

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from assessments.releases import current_release
from assessments.services import assessment_start
from governance import services
from governance.audit import audit_context
from governance.models import AISystem, Membership, Organisation, Role, User
from governance.registry import system_create

DEMO_EMAIL = "demo@kakehashi.example"
DEMO_ORG = "Demo Organisation"
OFFICER_EMAIL = "officer@kakehashi.example"
# Staff must use MFA, so the demo login is a member's and the admin site has its own curator,
# who sets up an authenticator app at first login.
CURATOR_EMAIL = "curator@kakehashi.example"

# Two systems to explore: an EU and Japan hiring screener the organisation builds and uses
# (high-risk under Annex III 4(a), with Japanese duties), and a Japan-only generative chatbot.
_NO = dict.fromkeys(
    [
        "military_use", "research_only", "pre_market_research", "personal_use_only",
        "open_source_release", "manipulative_techniques", "exploits_vulnerabilities",
        "generates_ncii", "generates_csam", "social_scoring", "untargeted_face_scraping",
        "annex1_product", "art6_3_narrow_procedural", "art6_3_improves_human_result",
        "art6_3_detects_patterns", "art6_3_preparatory", "generates_synthetic_content",
        "emotion_or_biometric_categorisation", "generates_deep_fakes",
        "publishes_public_interest_text", "provides_gpai_model", "advanced_ai_system",
        "uses_generative_ai", "special_care_data", "is_sme",
        "shares_personal_data_with_vendor_for_training",
    ],
    False,
)  # fmt: skip
DEMO_SYSTEMS = [
    {
        "name": "Hiring screener",
        "description": "Ranks job applications for recruiters in Berlin and Osaka.",
        "business_unit": "People",
        "lifecycle_stage": "production",
        "sourcing": "hybrid",
        "vendor": "In house, on a licensed language model",
        "answers": {
            **_NO,
            "markets": ["EU", "JP"],
            "eu_roles": ["provider", "deployer"],
            "jp_roles": ["developer", "business_user"],
            "established_in_eu": True,
            "deployer_public_status": "neither",
            "art25_triggers": [],
            "crime_risk_prediction": "no",
            "workplace_emotion_inference": "no",
            "sensitive_biometric_categorisation": "no",
            "realtime_rbi_law_enforcement": "no",
            "annex3_use_cases": ["4a"],
            "profiles_natural_persons": True,
            "interacts_with_people": True,
            "processes_personal_data": True,
            "transfers_personal_data_abroad": True,
        },
    },
    {
        "name": "Customer support chatbot",
        "description": "Answers customers' questions on the Japanese web shop.",
        "business_unit": "Customer service",
        "lifecycle_stage": "production",
        "sourcing": "third_party",
        "vendor": "A SaaS chatbot vendor",
        "answers": {
            "markets": ["JP"],
            "jp_roles": ["business_user"],
            "is_sme": False,
            "uses_generative_ai": True,
            "processes_personal_data": True,
            "special_care_data": False,
            "shares_personal_data_with_vendor_for_training": False,
            "transfers_personal_data_abroad": False,
        },
    },
]


class Command(BaseCommand):
    help = "Create the demo organisation and its admin for local development (idempotent)."

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo creates a known password; it runs only with DEBUG on.")
        password = os.environ.get("DEMO_PASSWORD", "")
        if password:
            # A chosen password meets the password rules; the built-in one is published in the
            # README and .ci/run, so no rule could make it secret (and it exists only in DEBUG).
            try:
                validate_password(password, User(email=DEMO_EMAIL))
            except ValidationError as exc:
                raise CommandError("DEMO_PASSWORD: " + " ".join(exc.messages)) from exc
        password = password or "kakehashi-demo"
        with audit_context(source="command:seed_demo"), transaction.atomic():
            user = User.objects.filter(email=DEMO_EMAIL).first()
            if user is None:
                user = User.objects.create_user(DEMO_EMAIL, password, full_name="Demo Admin")
            elif not user.check_password(password) or user.is_staff:
                user.set_password(password)
                user.is_staff = user.is_superuser = False
                user.save(update_fields=["password", "is_staff", "is_superuser"])
            if not User.objects.filter(email=CURATOR_EMAIL).exists():
                User.objects.create_superuser(
                    CURATOR_EMAIL, password, full_name="Demo Catalogue Curator"
                )
            org = Organisation.objects.filter(memberships__user=user, name=DEMO_ORG).first()
            if org is None:
                org = services.organisation_create(
                    name=DEMO_ORG, creator=user, time_zone="Asia/Tokyo"
                )
            Membership.objects.filter(organisation=org, user=user).update(role=Role.ADMIN)
            officer = User.objects.filter(email=OFFICER_EMAIL).first()
            if officer is None:
                officer = User.objects.create_user(
                    OFFICER_EMAIL, password, full_name="Demo Compliance Officer"
                )
            Membership.objects.get_or_create(
                organisation=org, user=officer, defaults={"role": Role.COMPLIANCE_OFFICER}
            )
            created = self._systems(org, user)
        if created:
            self.stdout.write(f"registered {created} demo AI systems; their assessments are queued")
        base = os.environ.get("KAKEHASHI_BASE_URL", settings.BASE_URL)
        self.stdout.write(f"a second member to approve assessments: {OFFICER_EMAIL} / {password}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Kakehashi is at {base}/  —  log in as {DEMO_EMAIL} / {password}"
                f"  (admin site: {base}/admin/ as {CURATOR_EMAIL}, with an authenticator app)"
            )
        )

    def _systems(self, org: Organisation, user: User) -> int:
        """Register the demo systems once, and queue their first assessments."""
        if AISystem.objects.for_org(org).exists() or current_release() is None:
            return 0
        for spec in DEMO_SYSTEMS:
            fields = {k: v for k, v in spec.items() if k != "answers"}
            system = system_create(
                org=org, actor=user, answers=spec["answers"], owner=user, **fields
            )
            assessment_start(system=system, actor=user)
        return len(DEMO_SYSTEMS)
