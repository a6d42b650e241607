"""Writes and reads for the AI system registry.

Answers are validated by the engine's questionnaire against the current catalogue release;
every edit that changes something bumps the system's version and keeps a copy of it.
"""

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from assessments.engine import questionnaire
from assessments.releases import compiled, current_release

from .models import AISystem, AISystemVersion, Membership, Organisation, User

# Registry fields besides the answers, in the order the form and exports show them.
FIELDS = ("name", "description", "intended_purpose", "owner", "business_unit",
          "lifecycle_stage", "sourcing", "vendor", "model_name", "model_version")  # fmt: skip


def answer_error(code: str, params: Mapping[str, Any]) -> str:
    """The questionnaire's error codes as sentences in the active language."""
    messages = {
        "required": _("Answer this question."),
        "not_a_choice": _("“%(value)s” is not one of the choices."),
        "not_a_boolean": _("Answer yes or no."),
        "not_a_number": _("Enter a number."),
        "not_a_date": _("Enter a date as YYYY-MM-DD."),
        "not_text": _("Enter text."),
        "too_long": _("Keep this under %(limit)s characters."),
        "null_character": _("Remove the NUL character from this answer."),
        "not_a_list": _("Give a list of choices."),
        "unknown_question": _("“%(key)s” is not a question of the current catalogue."),
    }
    return messages.get(code, code) % dict(params)


def clean_answers(raw: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """(release, cleaned answers) for the current release; ValidationError keyed by question."""
    release = current_release()
    if release is None:
        raise ValidationError(_("No catalogue release is published yet; ask a curator."))
    try:
        answers = questionnaire.validate(compiled(release), raw)
    except questionnaire.AnswersInvalid as exc:
        raise ValidationError(
            {key: answer_error(code, params) for key, (code, params) in exc.errors.items()}
        ) from exc
    return release, answers


def _roles(answers: Mapping[str, Any], key: str, prefix: str) -> list[str]:
    return [f"{prefix}.{value}" for value in answers.get(key) or []]


def _check_owner(org: Organisation, owner: User | None) -> None:
    if owner is not None and not Membership.objects.for_org(org).filter(user=owner).exists():
        raise ValidationError({"owner": _("The owner must be a member of the organisation.")})


def _check_name(org: Organisation, name: str, *, exclude_pk: int | None = None) -> None:
    # The database constraint would only say "constraint violated"; name the field instead.
    clash = AISystem.objects.for_org(org).active().filter(name__iexact=name)
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise ValidationError(
            {"name": _("Another active system is called “%(name)s”.") % {"name": name}}
        )


def _version_data(system: AISystem) -> dict[str, Any]:
    data = {name: getattr(system, name) for name in FIELDS if name != "owner"}
    data["owner"] = system.owner.email if system.owner_id else None
    data["release"] = system.release.code
    data["answers"] = system.answers
    return data


def _set_answers(system: AISystem, release, answers: dict[str, Any]) -> None:
    system.release = release
    system.answers = answers
    system.markets = list(answers.get("markets") or [])
    system.eu_roles = _roles(answers, "eu_roles", "eu")
    system.jp_roles = _roles(answers, "jp_roles", "jp")


def system_create(
    *, org: Organisation, actor: User, answers: Mapping[str, Any], **fields: Any
) -> AISystem:
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    release, cleaned = clean_answers(answers)
    _check_owner(org, fields.get("owner"))
    system = AISystem(organisation=org, created_by=actor, **fields)
    _check_name(org, system.name)
    _set_answers(system, release, cleaned)
    system.full_clean(exclude=["answers"])
    with transaction.atomic():
        system.save()
        AISystemVersion.objects.create(
            organisation=org,
            system=system,
            number=1,
            data=_version_data(system),
            changed=["created"],
            changed_by=actor,
        )
    return system


def system_update(
    *,
    system: AISystem,
    actor: User,
    answers: Mapping[str, Any] | None = None,
    **fields: Any,
) -> AISystem:
    """Change registry fields and/or answers. Nothing changed, nothing written."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    if system.is_archived:
        raise ValidationError(_("An archived system cannot be changed; restore it first."))
    cleaned = None
    if answers is not None:
        release, cleaned = clean_answers(answers)
    if "owner" in fields:
        _check_owner(system.organisation, fields["owner"])
    with transaction.atomic():
        locked = AISystem.objects.select_for_update().get(pk=system.pk)
        changed = [name for name, value in fields.items() if getattr(locked, name) != value]
        for name in changed:
            setattr(locked, name, fields[name])
        if cleaned is not None and (cleaned != locked.answers or release.pk != locked.release_id):
            if cleaned != locked.answers:
                changed.append("answers")
            _set_answers(locked, release, cleaned)
            if "answers" not in changed:
                changed.append("release")
        if not changed:
            return locked
        if "name" in changed:
            _check_name(locked.organisation, locked.name, exclude_pk=locked.pk)
        locked.full_clean(exclude=["answers"])
        locked.version += 1
        locked.save()
        AISystemVersion.objects.create(
            organisation=locked.organisation,
            system=locked,
            number=locked.version,
            data=_version_data(locked),
            changed=changed,
            changed_by=actor,
        )
    return locked


def system_archive(*, system: AISystem, actor: User) -> AISystem:
    """Take a system out of the registry list; its assessments and history stay."""
    with transaction.atomic():
        AISystem.objects.filter(pk=system.pk, archived_at__isnull=True).update(
            archived_at=timezone.now()
        )
    system.refresh_from_db()
    return system


def system_restore(*, system: AISystem, actor: User) -> AISystem:
    """Bring an archived system back; its name must not clash with an active one."""
    if not system.is_archived:
        return system
    clash = (
        AISystem.objects.for_org(system.organisation)
        .active()
        .filter(name__iexact=system.name)
        .exists()
    )
    if clash:
        raise ValidationError(
            _("Another active system is called “%(name)s”; rename one of them first.")
            % {"name": system.name}
        )
    with transaction.atomic():
        AISystem.objects.filter(pk=system.pk).update(archived_at=None)
    system.refresh_from_db()
    return system


# --- Reads -------------------------------------------------------------------------------


def systems(
    org: Organisation,
    *,
    archived: bool = False,
    search: str = "",
    lifecycle_stage: str = "",
    eu_tier: str = "",
    market: str = "",
    role: str = "",
    owner: User | None = None,
    business_unit: str = "",
) -> QuerySet[AISystem]:
    """The registry list: filtered, with each system's latest assessment status annotated."""
    from assessments.models import Assessment  # the assessments app builds on the registry

    latest = Assessment.objects.filter(system=OuterRef("pk")).order_by("-created_at", "-id")
    rows = (
        AISystem.objects.for_org(org)
        .select_related("owner")
        .annotate(
            latest_status=Subquery(latest.values("status")[:1]),
            latest_code=Subquery(latest.values("code")[:1]),
            latest_stale=Subquery(latest.values("stale_since_id")[:1]),
        )
    )
    rows = rows.filter(archived_at__isnull=not archived)
    if search:
        rows = rows.filter(
            Q(name__icontains=search)
            | Q(description__icontains=search)
            | Q(vendor__icontains=search)
            | Q(model_name__icontains=search)
            | Q(business_unit__icontains=search)
        )
    if lifecycle_stage:
        rows = rows.filter(lifecycle_stage=lifecycle_stage)
    if eu_tier == "unassessed":
        rows = rows.filter(eu_tier="")
    elif eu_tier == "assessed":
        rows = rows.exclude(eu_tier="")
    elif eu_tier:
        rows = rows.filter(eu_tier=eu_tier)
    if market:
        rows = rows.filter(markets__contains=[market])
    if role.startswith("eu."):
        rows = rows.filter(eu_roles__contains=[role])
    elif role.startswith("jp."):
        rows = rows.filter(jp_roles__contains=[role])
    if owner is not None:
        rows = rows.filter(owner=owner)
    if business_unit:
        rows = rows.filter(business_unit__iexact=business_unit)
    return rows.order_by("name", "id")


def business_units(org: Organisation) -> list[str]:
    return list(
        AISystem.objects.for_org(org)
        .exclude(business_unit="")
        .order_by("business_unit")
        .values_list("business_unit", flat=True)
        .distinct()
    )


def versions(system: AISystem) -> QuerySet[AISystemVersion]:
    return (
        AISystemVersion.objects.for_org(system.organisation)
        .filter(system=system)
        .select_related("changed_by")
    )


NO_OWNER = "none"  # the API's `owner` filter value for systems nobody owns


def api_systems(org: Organisation, *, owner: str = "", **filters: Any) -> QuerySet[AISystem]:
    """The registry list for the API: `systems` with its filters, where `owner` is an e-mail
    address or "none" (no owner), and each system's release loaded for its code."""
    rows = systems(org, **filters).select_related("release")
    if owner == NO_OWNER:
        rows = rows.filter(owner__isnull=True)
    elif owner:
        rows = rows.filter(owner__email__iexact=owner)
    return rows


def member_user(org: Organisation, email: str) -> User | None:
    """The member of the organisation with this e-mail address (any case), or None."""
    membership = (
        Membership.objects.for_org(org)
        .select_related("user")
        .filter(user__email__iexact=email.strip())
        .first()
    )
    return membership.user if membership is not None else None
