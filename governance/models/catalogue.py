"""The regulatory catalogue: global, staff-curated, versioned by release.

Every row belongs to one CatalogueRelease, so a release is a complete snapshot: assessments
record the release they used, and two releases are compared by their stable codes. Published
releases never change; curators edit a draft and publish it.
"""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import get_language, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from .tenancy import Jurisdiction

ROLES = [
    ("eu.provider", _("Provider (EU)")),
    ("eu.deployer", _("Deployer (EU)")),
    ("eu.importer", _("Importer (EU)")),
    ("eu.distributor", _("Distributor (EU)")),
    ("eu.authorised_representative", _("Authorised representative (EU)")),
    ("eu.product_manufacturer", _("Product manufacturer (EU)")),
    ("jp.developer", _("AI developer (Japan)")),
    ("jp.provider", _("AI provider (Japan)")),
    ("jp.business_user", _("AI business user (Japan)")),
]


class Bilingual(models.Model):
    """Models with `<field>_en` / `<field>_ja` pairs; `text("title")` picks the active language."""

    class Meta:
        abstract = True

    def text(self, field: str) -> str:
        language = (get_language() or "en")[:2]
        preferred = getattr(self, f"{field}_{language}", "") if language == "ja" else ""
        return preferred or getattr(self, f"{field}_en")

    @property
    def title(self) -> str:
        return self.text("title")

    @property
    def summary(self) -> str:
        return self.text("summary")


class CatalogueRelease(Bilingual):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")

    code = models.SlugField(_("code"), max_length=64, unique=True)
    title_en = models.CharField(_("title (English)"), max_length=200)
    title_ja = models.CharField(_("title (Japanese)"), max_length=200)
    description_en = models.TextField(_("description (English)"), blank=True)
    description_ja = models.TextField(_("description (Japanese)"), blank=True)
    effective_on = models.DateField(_("effective on"))
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.DRAFT
    )
    is_current = models.BooleanField(_("current"), default=False)
    based_on = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source_digest = models.CharField(max_length=64, blank=True, editable=False)
    impact = models.JSONField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("catalogue release")
        verbose_name_plural = _("catalogue releases")
        ordering = ["-effective_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_current"],
                condition=models.Q(is_current=True),
                name="catalogue_one_current_release",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def description(self) -> str:
        return self.text("description")

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT


class ReleaseQuerySet(models.QuerySet):
    def for_release(self, release: CatalogueRelease) -> "ReleaseQuerySet":
        return self.filter(release=release)


class Regulation(Bilingual):
    class Kind(models.TextChoices):
        BINDING_LAW = "binding_law", _("Binding law")
        SOFT_LAW = "soft_law", _("Soft law")
        GUIDELINE = "guideline", _("Guideline")
        CODE_OF_CONDUCT = "code_of_conduct", _("Code of conduct")

    release = models.ForeignKey(
        CatalogueRelease, on_delete=models.CASCADE, related_name="regulations"
    )
    code = models.CharField(_("code"), max_length=40)
    jurisdiction = models.CharField(_("jurisdiction"), max_length=8, choices=Jurisdiction.choices)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    title_en = models.CharField(_("title (English)"), max_length=300)
    title_ja = models.CharField(_("title (Japanese)"), max_length=300)
    short_title_en = models.CharField(_("short title (English)"), max_length=100)
    short_title_ja = models.CharField(_("short title (Japanese)"), max_length=100)
    reference = models.CharField(_("official reference"), max_length=300)
    url = models.URLField(_("official URL"), max_length=500, blank=True)
    in_force_from = models.DateField(_("in force from"), null=True, blank=True)
    summary_en = models.TextField(_("summary (English)"))
    summary_ja = models.TextField(_("summary (Japanese)"))
    source = models.CharField(_("source"), max_length=300)

    objects = ReleaseQuerySet.as_manager()

    class Meta:
        verbose_name = _("regulation")
        verbose_name_plural = _("regulations")
        ordering = ["jurisdiction", "code"]
        constraints = [
            models.UniqueConstraint(fields=["release", "code"], name="regulation_code_per_release")
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.release.code})" if self.release_id else self.code

    @property
    def short_title(self) -> str:
        return self.text("short_title")


class Provision(Bilingual):
    class Kind(models.TextChoices):
        ARTICLE = "article", _("Article")
        PARAGRAPH = "paragraph", _("Paragraph")
        POINT = "point", _("Point")
        ANNEX = "annex", _("Annex")
        ANNEX_POINT = "annex_point", _("Annex point")
        PRINCIPLE = "principle", _("Principle")
        ITEM = "item", _("Item")
        ACTION = "action", pgettext_lazy("catalogue provision kind", "Action")
        PERSPECTIVE = "perspective", _("Evaluation perspective")
        SECTION = "section", _("Section")
        TOUCHPOINT = "touchpoint", _("Touch point")
        DEFINITION = "definition", _("Definition")

    release = models.ForeignKey(CatalogueRelease, on_delete=models.CASCADE, related_name="+")
    regulation = models.ForeignKey(Regulation, on_delete=models.CASCADE, related_name="provisions")
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children"
    )
    code = models.CharField(_("code"), max_length=40)
    reference = models.CharField(_("reference"), max_length=120)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    title_en = models.CharField(_("title (English)"), max_length=300)
    title_ja = models.CharField(_("title (Japanese)"), max_length=300)
    summary_en = models.TextField(_("summary (English)"))
    summary_ja = models.TextField(_("summary (Japanese)"))
    source = models.CharField(_("source"), max_length=300)
    position = models.PositiveIntegerField(default=0)

    objects = ReleaseQuerySet.as_manager()

    class Meta:
        verbose_name = _("provision")
        verbose_name_plural = _("provisions")
        ordering = ["regulation", "position", "code"]
        constraints = [
            models.UniqueConstraint(fields=["release", "code"], name="provision_code_per_release")
        ]

    def __str__(self) -> str:
        return f"{self.code} — {self.reference}"


class Question(Bilingual):
    class Type(models.TextChoices):
        BOOLEAN = "boolean", _("Yes / no")
        CHOICE = "choice", _("One choice")
        MULTI_CHOICE = "multi_choice", _("Several choices")
        NUMBER = "number", _("Number")
        TEXT = "text", _("Text")
        DATE = "date", _("Date")

    release = models.ForeignKey(
        CatalogueRelease, on_delete=models.CASCADE, related_name="questions"
    )
    key = models.CharField(_("key"), max_length=64)
    type = models.CharField(_("type"), max_length=16, choices=Type.choices)
    choices = models.JSONField(
        _("choices"), default=list, blank=True, help_text=_("[{value, label: {en, ja}}, …]")
    )
    label_en = models.CharField(_("question (English)"), max_length=300)
    label_ja = models.CharField(_("question (Japanese)"), max_length=300)
    help_en = models.TextField(_("help (English)"))
    help_ja = models.TextField(_("help (Japanese)"))
    citation = models.CharField(_("citation"), max_length=200)
    section = models.CharField(_("section"), max_length=32)
    ask_when = models.TextField(_("asked when"), blank=True)
    position = models.IntegerField(_("order"), default=0)

    objects = ReleaseQuerySet.as_manager()

    class Meta:
        verbose_name = _("question")
        verbose_name_plural = _("questions")
        ordering = ["position", "key"]
        constraints = [
            models.UniqueConstraint(fields=["release", "key"], name="question_key_per_release")
        ]

    def __str__(self) -> str:
        return self.key

    @property
    def label(self) -> str:
        return self.text("label")

    @property
    def help(self) -> str:
        return self.text("help")

    def choice_labels(self) -> list[tuple[str, str]]:
        language = "ja" if (get_language() or "en")[:2] == "ja" else "en"
        return [(c["value"], c["label"][language] or c["label"]["en"]) for c in self.choices]


class ClassificationRule(Bilingual):
    release = models.ForeignKey(CatalogueRelease, on_delete=models.CASCADE, related_name="rules")
    code = models.CharField(_("code"), max_length=40)
    label = models.CharField(_("label"), max_length=64)
    detail = models.CharField(_("detail"), max_length=64, blank=True)
    when = models.TextField(_("condition"))
    citation = models.CharField(_("citation"), max_length=200)
    explanation_en = models.TextField(_("explanation (English)"))
    explanation_ja = models.TextField(_("explanation (Japanese)"))
    position = models.IntegerField(_("order"), default=0)

    objects = ReleaseQuerySet.as_manager()

    class Meta:
        verbose_name = _("classification rule")
        verbose_name_plural = _("classification rules")
        ordering = ["position", "code"]
        constraints = [
            models.UniqueConstraint(fields=["release", "code"], name="rule_code_per_release")
        ]

    def __str__(self) -> str:
        return f"{self.code} → {self.label}"


class PenaltyTier(Bilingual):
    class SmeRule(models.TextChoices):
        LOWER = "lower", _("the lower cap applies to SMEs")
        HIGHER = "higher", _("the higher cap applies to SMEs")

    release = models.ForeignKey(CatalogueRelease, on_delete=models.CASCADE, related_name="+")
    regulation = models.ForeignKey(Regulation, on_delete=models.CASCADE, related_name="penalties")
    code = models.CharField(_("code"), max_length=40)
    provision = models.ForeignKey(Provision, on_delete=models.CASCADE, null=True, blank=True)
    title_en = models.CharField(_("title (English)"), max_length=300)
    title_ja = models.CharField(_("title (Japanese)"), max_length=300)
    max_eur = models.BigIntegerField(_("maximum fine (EUR)"), default=0)
    max_turnover_percent = models.DecimalField(
        _("maximum fine (percentage of worldwide turnover)"),
        max_digits=5,
        decimal_places=2,
        default=0,
    )
    sme_rule = models.CharField(_("SME rule"), max_length=8, choices=SmeRule.choices, blank=True)

    objects = ReleaseQuerySet.as_manager()

    class Meta:
        verbose_name = _("penalty tier")
        verbose_name_plural = _("penalty tiers")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["release", "code"], name="penalty_code_per_release")
        ]

    def __str__(self) -> str:
        return self.code


class Obligation(Bilingual):
    class LegalForce(models.TextChoices):
        BINDING = "binding", _("Binding")
        COOPERATION_DUTY = "cooperation_duty", _("Duty to cooperate")
        VOLUNTARY = "voluntary", _("Voluntary")

    release = models.ForeignKey(CatalogueRelease, on_delete=models.CASCADE, related_name="+")
    regulation = models.ForeignKey(Regulation, on_delete=models.CASCADE, related_name="obligations")
    provision = models.ForeignKey(Provision, on_delete=models.CASCADE, related_name="obligations")
    code = models.CharField(_("code"), max_length=40)
    title_en = models.CharField(_("title (English)"), max_length=300)
    title_ja = models.CharField(_("title (Japanese)"), max_length=300)
    summary_en = models.TextField(_("summary (English)"))
    summary_ja = models.TextField(_("summary (Japanese)"))
    roles = ArrayField(models.CharField(max_length=40, choices=ROLES), verbose_name=_("roles"))
    applies_when = models.TextField(_("applies when"), default="true")
    applies_from = models.DateField(
        _("applies from"), help_text=_("The earliest date; see the dated conditions for routes.")
    )
    applies_from_rules = models.JSONField(
        _("dated conditions"),
        default=list,
        blank=True,
        help_text=_(
            '[{"when": condition, "date": "YYYY-MM-DD"}, …]: the earliest that holds wins.'
        ),
    )
    legal_force = models.CharField(_("legal force"), max_length=20, choices=LegalForce.choices)
    penalty = models.ForeignKey(
        PenaltyTier, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("penalty tier")
    )
    guidance_en = models.TextField(_("guidance (English)"), blank=True)
    guidance_ja = models.TextField(_("guidance (Japanese)"), blank=True)
    evidence = models.JSONField(
        _("evidence expected"), default=list, blank=True, help_text=_("[{en, ja}, …]")
    )
    source = models.CharField(_("source"), max_length=300)

    objects = ReleaseQuerySet.as_manager()

    class Meta:
        verbose_name = _("obligation")
        verbose_name_plural = _("obligations")
        ordering = ["regulation__code", "provision__position", "code"]
        constraints = [
            models.UniqueConstraint(fields=["release", "code"], name="obligation_code_per_release")
        ]
        indexes = [models.Index(fields=["release", "applies_from"], name="obligation_release_date")]

    def __str__(self) -> str:
        return self.code

    @property
    def guidance(self) -> str:
        return self.text("guidance")

    def evidence_texts(self) -> list[str]:
        language = (get_language() or "en")[:2]
        return [item.get(language) or item.get("en", "") for item in self.evidence]


class Milestone(Bilingual):
    release = models.ForeignKey(CatalogueRelease, on_delete=models.CASCADE, related_name="+")
    regulation = models.ForeignKey(Regulation, on_delete=models.CASCADE, related_name="milestones")
    code = models.CharField(_("code"), max_length=40)
    date = models.DateField(_("date"))
    title_en = models.CharField(_("title (English)"), max_length=300)
    title_ja = models.CharField(_("title (Japanese)"), max_length=300)
    summary_en = models.TextField(_("summary (English)"), blank=True)
    summary_ja = models.TextField(_("summary (Japanese)"), blank=True)

    objects = ReleaseQuerySet.as_manager()

    class Meta:
        verbose_name = _("milestone")
        verbose_name_plural = _("milestones")
        ordering = ["date", "code"]
        constraints = [
            models.UniqueConstraint(fields=["release", "code"], name="milestone_code_per_release")
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.code}"


class CrosswalkLink(Bilingual):
    class Relationship(models.TextChoices):
        EQUAL = "equal", _("equal")
        SUBSET = "subset", _("subset")
        SUPERSET = "superset", _("superset")
        INTERSECT = "intersect", _("intersect")

    class Origin(models.TextChoices):
        PUBLISHED = "published", _("Published by an authority")
        CURATED = "curated", _("Curated by Kakehashi")

    release = models.ForeignKey(CatalogueRelease, on_delete=models.CASCADE, related_name="+")
    source = models.ForeignKey(Obligation, on_delete=models.CASCADE, related_name="links_out")
    target = models.ForeignKey(Obligation, on_delete=models.CASCADE, related_name="links_in")
    relationship = models.CharField(_("relationship"), max_length=16, choices=Relationship.choices)
    rationale_en = models.TextField(_("rationale (English)"))
    rationale_ja = models.TextField(_("rationale (Japanese)"))
    origin = models.CharField(_("origin"), max_length=16, choices=Origin.choices)
    publisher = models.CharField(_("publisher"), max_length=200, blank=True)
    reference = models.CharField(_("reference"), max_length=300, blank=True)

    objects = ReleaseQuerySet.as_manager()

    class Meta:
        verbose_name = _("crosswalk link")
        verbose_name_plural = _("crosswalk links")
        ordering = ["source__code", "target__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["release", "source", "target"], name="crosswalk_link_per_release"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source_id} {self.relationship} {self.target_id}"

    @property
    def rationale(self) -> str:
        return self.text("rationale")

    @property
    def origin_text(self) -> str:
        if self.origin == self.Origin.PUBLISHED:
            return _("Published by %(publisher)s") % {"publisher": self.publisher}
        return str(_("Curated by Kakehashi"))
