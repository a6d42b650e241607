"""Curation of the catalogue by staff: drafts are editable, published releases are read-only.

Conditions are validated on save against the release's questions and labels; a draft is
published through a confirmation page that shows its impact; releases are exported and
imported as YAML files in the catalogue's own format.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _

from assessments.engine.conditions import ConditionError, QuestionType, check, parse

from ..catalogue import services
from ..catalogue.export import to_yaml
from ..catalogue.loader import CatalogueError
from ..catalogue.store import snapshot_of
from ..models import (
    ROLES,
    CatalogueRelease,
    ClassificationRule,
    CrosswalkLink,
    Milestone,
    Obligation,
    PenaltyTier,
    Provision,
    Question,
    Regulation,
)


def questionnaire(release: CatalogueRelease) -> dict[str, QuestionType]:
    return {
        q.key: QuestionType(q.type, frozenset(c["value"] for c in q.choices))
        for q in Question.objects.for_release(release)
    }


def labels(release: CatalogueRelease) -> set[str]:
    return set(ClassificationRule.objects.for_release(release).values_list("label", flat=True))


def validate_condition(text: str, release: CatalogueRelease, *, with_labels=True) -> None:
    try:
        check(parse(text), questionnaire(release), labels(release) if with_labels else None)
    except ConditionError as exc:
        raise ValidationError(str(exc)) from exc


class ReleaseContentAdmin(admin.ModelAdmin):
    """Rows of a published release cannot be changed; new rows go into drafts only."""

    list_select_related = ["release"]

    def _editable(self, obj) -> bool:
        return obj is None or obj.release.is_draft

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and self._editable(obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and self._editable(obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "release":
            kwargs["queryset"] = CatalogueRelease.objects.filter(
                status=CatalogueRelease.Status.DRAFT
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ConditionFormMixin(forms.ModelForm):
    """Checks the condition fields named in `condition_fields` against the release."""

    condition_fields: tuple[str, ...] = ()

    def clean(self):
        cleaned = super().clean()
        release = cleaned.get("release") or getattr(self.instance, "release", None)
        if release is None:
            return cleaned
        for name in self.condition_fields:
            text = cleaned.get(name)
            if text:
                try:
                    validate_condition(text, release, with_labels=name != "ask_when")
                except ValidationError as exc:
                    self.add_error(name, exc)
        return cleaned


class ObligationForm(ConditionFormMixin):
    condition_fields = ("applies_when",)
    roles = forms.MultipleChoiceField(
        choices=ROLES, widget=forms.CheckboxSelectMultiple, label=_("roles")
    )

    class Meta:
        model = Obligation
        fields = "__all__"  # noqa: DJ007 (the ModelAdmin chooses the fields)

    def clean(self):
        cleaned = super().clean()
        release = cleaned.get("release")
        for i, rule in enumerate(cleaned.get("applies_from_rules") or []):
            if not isinstance(rule, dict) or set(rule) != {"when", "date"}:
                self.add_error("applies_from_rules", _('Each entry needs "when" and "date".'))
                break
            try:
                if release:
                    validate_condition(rule["when"], release)
            except ValidationError as exc:
                self.add_error("applies_from_rules", f"[{i}] {exc.messages[0]}")
        for name in ("provision", "penalty", "regulation"):
            related = cleaned.get(name)
            if related is not None and release is not None and related.release_id != release.pk:
                self.add_error(name, _("Choose one from the same release."))
        return cleaned


class QuestionForm(ConditionFormMixin):
    condition_fields = ("ask_when",)

    class Meta:
        model = Question
        fields = "__all__"  # noqa: DJ007 (the ModelAdmin chooses the fields)


class RuleForm(ConditionFormMixin):
    condition_fields = ("when",)

    class Meta:
        model = ClassificationRule
        fields = "__all__"  # noqa: DJ007 (the ModelAdmin chooses the fields)


class RoleFilter(admin.SimpleListFilter):
    title = _("role")
    parameter_name = "role"

    def lookups(self, request, model_admin):
        return ROLES

    def queryset(self, request, queryset):
        return queryset.filter(roles__contains=[self.value()]) if self.value() else queryset


class ProvisionInline(admin.TabularInline):
    model = Provision
    fk_name = "regulation"
    fields = ["code", "reference", "kind", "title_en", "title_ja", "position"]
    extra = 0
    show_change_link = True

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None or obj.release.is_draft

    has_add_permission = has_delete_permission = has_change_permission


class ObligationInline(admin.TabularInline):
    model = Obligation
    fields = ["code", "title_en", "legal_force", "applies_from"]
    extra = 0
    show_change_link = True

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None or obj.release.is_draft

    has_add_permission = has_delete_permission = has_change_permission


@admin.register(Regulation)
class RegulationAdmin(ReleaseContentAdmin):
    list_display = ["code", "short_title_en", "jurisdiction", "kind", "release"]
    list_filter = ["release", "jurisdiction", "kind"]
    search_fields = ["code", "title_en", "title_ja", "short_title_en"]
    inlines = [ProvisionInline]


@admin.register(Provision)
class ProvisionAdmin(ReleaseContentAdmin):
    list_display = ["code", "reference", "kind", "regulation", "release"]
    list_filter = ["release", "regulation__jurisdiction", "regulation", "kind"]
    search_fields = ["code", "reference", "title_en", "title_ja", "summary_en"]
    list_select_related = ["release", "regulation"]
    raw_id_fields = ["parent", "regulation"]
    inlines = [ObligationInline]


@admin.register(Obligation)
class ObligationAdmin(ReleaseContentAdmin):
    form = ObligationForm
    list_display = ["code", "title_en", "regulation", "legal_force", "applies_from", "release"]
    list_filter = [
        "release",
        "regulation__jurisdiction",
        "regulation",
        RoleFilter,
        "legal_force",
        ("applies_from", admin.DateFieldListFilter),
    ]
    search_fields = ["code", "title_en", "title_ja", "summary_en", "summary_ja"]
    list_select_related = ["release", "regulation"]
    raw_id_fields = ["provision", "regulation", "penalty"]
    date_hierarchy = "applies_from"


@admin.register(Question)
class QuestionAdmin(ReleaseContentAdmin):
    form = QuestionForm
    list_display = ["key", "type", "section", "position", "citation", "release"]
    list_filter = ["release", "section", "type"]
    search_fields = ["key", "label_en", "label_ja", "citation"]


@admin.register(ClassificationRule)
class ClassificationRuleAdmin(ReleaseContentAdmin):
    form = RuleForm
    list_display = ["code", "label", "detail", "position", "citation", "release"]
    list_filter = ["release", "label"]
    search_fields = ["code", "label", "citation", "when"]


@admin.register(CrosswalkLink)
class CrosswalkLinkAdmin(ReleaseContentAdmin):
    list_display = ["source", "relationship", "target", "origin", "release"]
    list_filter = ["release", "relationship", "origin"]
    search_fields = ["source__code", "target__code", "rationale_en"]
    list_select_related = ["release", "source", "target"]
    raw_id_fields = ["source", "target"]


@admin.register(Milestone)
class MilestoneAdmin(ReleaseContentAdmin):
    list_display = ["date", "code", "title_en", "regulation", "release"]
    list_filter = ["release", "regulation"]
    search_fields = ["code", "title_en", "title_ja"]
    list_select_related = ["release", "regulation"]


@admin.register(PenaltyTier)
class PenaltyTierAdmin(ReleaseContentAdmin):
    list_display = ["code", "title_en", "max_eur", "max_turnover_percent", "sme_rule", "release"]
    list_filter = ["release"]


class DraftForm(forms.Form):
    code = forms.SlugField(label=_("Code of the new draft"))
    title_en = forms.CharField(label=_("Title (English)"), max_length=200)
    title_ja = forms.CharField(label=_("Title (Japanese)"), max_length=200)


class ImportForm(forms.Form):
    file = forms.FileField(label=_("Catalogue file (YAML)"))
    code = forms.SlugField(label=_("Code for the imported draft"), required=False)


@admin.register(CatalogueRelease)
class CatalogueReleaseAdmin(admin.ModelAdmin):
    list_display = ["code", "title_en", "status", "is_current", "effective_on", "published_at"]
    list_filter = ["status", "is_current"]
    search_fields = ["code", "title_en", "title_ja"]
    readonly_fields = ["status", "is_current", "based_on", "published_at", "published_by",
                       "source_digest", "impact", "created_at"]  # fmt: skip
    change_list_template = "admin/governance/cataloguerelease/change_list.html"
    change_form_template = "admin/governance/cataloguerelease/change_form.html"

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and (obj is None or obj.is_draft)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and (obj is None or obj.is_draft)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        name = "governance_cataloguerelease"
        return [
            path("import/", wrap(self.import_view), name=f"{name}_import"),
            path("<int:pk>/draft/", wrap(self.draft_view), name=f"{name}_draft"),
            path("<int:pk>/publish/", wrap(self.publish_view), name=f"{name}_publish"),
            path("<int:pk>/export/", wrap(self.export_view), name=f"{name}_export"),
            *super().get_urls(),
        ]

    def _require(self, request: HttpRequest, permission: str) -> None:
        if not request.user.has_perm(f"governance.{permission}_cataloguerelease"):
            raise PermissionDenied

    def _context(self, request, release=None, **extra) -> dict:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": release,
            **extra,
        }

    def draft_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        self._require(request, "add")
        base = get_object_or_404(CatalogueRelease, pk=pk)
        form = DraftForm(
            request.POST or None,
            initial={
                "code": f"{base.code}-draft",
                "title_en": base.title_en,
                "title_ja": base.title_ja,
            },
        )
        if request.method == "POST" and form.is_valid():
            try:
                draft = services.release_create_draft(
                    base=base, actor=request.user, **form.cleaned_data
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, _("Draft %(code)s created.") % {"code": draft.code})
                return redirect("admin:governance_cataloguerelease_change", draft.pk)
        return TemplateResponse(
            request,
            "admin/governance/cataloguerelease/draft.html",
            self._context(
                request, base, form=form, title=_("New draft from %(code)s") % {"code": base.code}
            ),
        )

    def publish_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        self._require(request, "change")
        release = get_object_or_404(CatalogueRelease, pk=pk)
        if not release.is_draft:
            messages.error(request, _("Only a draft can be published."))
            return redirect("admin:governance_cataloguerelease_changelist")
        problems = services.release_validate(release)
        if request.method == "POST" and not problems:
            try:
                services.release_publish(release=release, actor=request.user)
            except ValidationError as exc:
                problems = exc.messages
            else:
                messages.success(
                    request, _("%(code)s is published and current.") % {"code": release.code}
                )
                return redirect("admin:governance_cataloguerelease_change", release.pk)
        return TemplateResponse(
            request,
            "admin/governance/cataloguerelease/publish.html",
            self._context(
                request,
                release,
                problems=problems,
                impact=services.release_impact(release),
                title=_("Publish %(code)s") % {"code": release.code},
            ),
        )

    def export_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        self._require(request, "view")
        release = get_object_or_404(CatalogueRelease, pk=pk)
        response = HttpResponse(
            to_yaml(snapshot_of(release)), content_type="application/yaml; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="catalogue-{release.code}.yaml"'
        return response

    def import_view(self, request: HttpRequest) -> HttpResponse:
        self._require(request, "add")
        form = ImportForm(request.POST or None, request.FILES or None)
        problems: list[str] = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                text = upload.read().decode("utf-8")
                release = services.release_import(
                    name=upload.name, text=text, code=form.cleaned_data["code"]
                )
            except UnicodeDecodeError:
                problems = [_("The file is not UTF-8 text.")]
            except CatalogueError as exc:
                problems = exc.problems
            else:
                messages.success(request, _("Imported as draft %(code)s.") % {"code": release.code})
                return redirect("admin:governance_cataloguerelease_change", release.pk)
        return TemplateResponse(
            request,
            "admin/governance/cataloguerelease/import.html",
            self._context(request, form=form, problems=problems, title=_("Import a release")),
            status=400 if problems else 200,
        )
