"""Remediation action workflows: open, assign, work, verify, cancel, reopen.

Every write goes through here, inside one transaction, so the audit triggers record it with the
actor that `audit_context` set for the request or task. Notifications are created in the same
transaction and e-mailed after it commits.
"""

import codecs
import datetime as dt
import hashlib
import re
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q
from django.template.defaultfilters import filesizeformat
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from governance.models import (
    Membership,
    Obligation,
    Organisation,
    Role,
    User,
)

from . import notify
from .integrations import events
from .models import (
    ACTIVE_STATUSES,
    GAP_STATUSES,
    ActionComment,
    ActionEvidence,
    ActionFinding,
    ActionOrigin,
    ActionStatus,
    EvidenceKind,
    Finding,
    FindingStatus,
    Priority,
    RemediationAction,
)

MANAGER_ROLES = (Role.COMPLIANCE_OFFICER, Role.ADMIN)

S = ActionStatus
# Where each status may go next. Cancelling and reopening need more than the move itself (a
# reason, a manager) and are checked in `action_transition`.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    S.OPEN: (S.IN_PROGRESS, S.BLOCKED, S.DONE, S.CANCELLED),
    S.IN_PROGRESS: (S.BLOCKED, S.DONE, S.CANCELLED),
    S.BLOCKED: (S.IN_PROGRESS, S.CANCELLED),
    S.DONE: (S.VERIFIED, S.IN_PROGRESS, S.CANCELLED),
    S.VERIFIED: (S.OPEN,),
    S.CANCELLED: (S.OPEN,),
}
# Moves only a compliance officer or an admin may make.
MANAGER_MOVES = {S.VERIFIED, S.CANCELLED}
REOPEN_FROM = (S.VERIFIED, S.CANCELLED)


# Due dates outside this range are typing errors (and 9999-12-31 has no day after it).
DUE_DATE_MIN = dt.date(2000, 1, 1)
DUE_DATE_MAX = dt.date(2199, 12, 31)


def _check_due(due: object) -> None:
    if isinstance(due, dt.date) and not DUE_DATE_MIN <= due <= DUE_DATE_MAX:
        raise ValidationError(
            {
                "due_date": _("Choose a due date between %(min)s and %(max)s.")
                % {"min": DUE_DATE_MIN.isoformat(), "max": DUE_DATE_MAX.isoformat()}
            }
        )


def today_for(org: Organisation, now: dt.datetime | None = None) -> dt.date:
    """Today's date in the organisation's time zone: deadlines are judged by it."""
    return timezone.localdate(now, timezone=zoneinfo.ZoneInfo(org.time_zone))


def overdue_q(today: dt.date) -> Q:
    """Active actions whose due date has passed (`today` from `today_for`), on systems still in
    the registry. Done but not yet verified still counts: the gap is closed only once someone
    else has checked."""
    return Q(status__in=ACTIVE_STATUSES, due_date__lt=today, system__archived_at__isnull=True)


# --- Priority ----------------------------------------------------------------------------------

# The highest fine of a penalty tier, in euros: the prohibited-practices tier (35 M€) scores 2,
# the other operator duties (15 M€) 1.
_PENALTY_SCORES = ((35_000_000, 2), (15_000_000, 1))


def derive_priority(
    *, legal_force: str, penalty_eur: int | None, due: dt.date | None, today: dt.date
) -> str:
    """Priority from what is at stake and how soon: legal force (binding 2, duty to cooperate
    1), the penalty tier (up to 2) and the deadline (overdue or within 30 days 2, within 90
    days 1). Five or more is critical, three or four high, two medium, less low."""
    score = {Obligation.LegalForce.BINDING: 2, Obligation.LegalForce.COOPERATION_DUTY: 1}.get(
        legal_force, 0
    )
    for floor, points in _PENALTY_SCORES:
        if (penalty_eur or 0) >= floor:
            score += points
            break
    if due is not None:
        days = (due - today).days
        score += 2 if days <= 30 else 1 if days <= 90 else 0
    if score >= 5:
        return Priority.CRITICAL
    if score >= 3:
        return Priority.HIGH
    if score >= 2:
        return Priority.MEDIUM
    return Priority.LOW


def priority_for(findings: Sequence[Finding], due: dt.date | None, today: dt.date) -> str:
    """The most urgent priority any of the findings gives (findings need obligation__penalty)."""
    ranks = {p: i for i, p in enumerate(Priority.values)}
    best = Priority.LOW
    for finding in findings:
        penalty = finding.obligation.penalty
        priority = derive_priority(
            legal_force=finding.legal_force,
            penalty_eur=penalty.max_eur if penalty else None,
            due=due,
            today=today,
        )
        if ranks[priority] < ranks[best]:
            best = priority
    return best


def refresh_priorities(*, org: Organisation, today: dt.date | None = None) -> int:
    """Re-derive the priority of active actions nobody prioritised by hand (deadlines come
    closer every day). Returns how many changed."""
    today = today or today_for(org)
    now = timezone.now()
    actions = list(
        RemediationAction.objects.for_org(org)
        .active()
        .filter(priority_manual=False)
        .prefetch_related("findings__obligation__penalty")
    )
    changed = []
    for action in actions:
        findings = list(action.findings.all())
        if not findings:
            continue
        priority = priority_for(findings, action.due_date, today)
        if priority != action.priority:
            action.priority = priority
            action.updated_at = now  # bulk_update does not apply auto_now
            changed.append(action)
    RemediationAction.objects.bulk_update(changed, ["priority", "updated_at"], batch_size=500)
    return len(changed)


# --- Creating and editing ----------------------------------------------------------------------


def _require_manager(actor: Membership) -> None:
    if actor.role not in MANAGER_ROLES:
        raise ValidationError(_("Only a compliance officer or an admin can do this."))


def _require_editor(actor: Membership) -> None:
    if not actor.can_edit:
        raise ValidationError(_("Viewers cannot change remediation actions."))


def _member_user(org: Organisation, user: User | None, field: str = "owner") -> None:
    if user is not None and not Membership.objects.for_org(org).filter(user=user).exists():
        raise ValidationError({field: _("Choose a member of the organisation.")})


def default_due(findings: Sequence[Finding]) -> dt.date | None:
    """The earliest due date of the findings: their application date, or the organisation's
    grace period for obligations already in force (see `runner.due_date`)."""
    dates = [f.due_date for f in findings if f.due_date]
    return min(dates) if dates else None


def action_create(
    *,
    org: Organisation,
    actor: Membership,
    findings: Sequence[Finding],
    title: str,
    description: str = "",
    owner: User | None = None,
    due_date: dt.date | None = None,
    priority: str | None = None,
) -> RemediationAction:
    """Open an action by hand for one or several findings of the same system."""
    _require_manager(actor)
    if actor.organisation_id != org.pk:
        raise ValidationError(_("Only members of the organisation can do this."))
    errors: dict[str, str] = {}
    with_penalties = list(
        Finding.objects.filter(pk__in=[f.pk for f in findings]).select_related(
            "obligation__penalty", "assessment"
        )
    )
    if not with_penalties:
        errors["findings"] = _("Choose at least one finding.")
    elif any(f.organisation_id != org.pk for f in with_penalties):
        errors["findings"] = _("Choose findings of this organisation.")
    elif len({f.system_id for f in with_penalties}) > 1:
        errors["findings"] = _("An action covers findings of one AI system.")
    elif not all(f.assessment.latest and f.is_gap for f in with_penalties):
        # An action follows its gap from run to run only from the latest run
        # (`runner._carry_links`), and verifying it closes only gaps.
        errors["findings"] = _("Choose open gaps of the system's latest assessment.")
    if not title.strip():
        errors["title"] = _("Give the action a title.")
    if priority and priority not in Priority.values:
        errors["priority"] = _("Choose a valid priority.")
    if errors:
        raise ValidationError(errors)
    _member_user(org, owner)
    _check_due(due_date)
    today = today_for(org)
    due = due_date or default_due(with_penalties)
    with transaction.atomic():
        action = RemediationAction(
            organisation=org,
            system_id=with_penalties[0].system_id,
            title=title.strip(),
            description=description.strip(),
            owner=owner,
            due_date=due,
            priority=priority or priority_for(with_penalties, due, today),
            priority_manual=bool(priority),
            origin=ActionOrigin.MANUAL,
            created_by=actor.user,
        )
        action.full_clean(exclude=["organisation", "system"])
        action.save()
        ActionFinding.objects.bulk_create(
            [ActionFinding(organisation=org, action=action, finding=f) for f in with_penalties],
            ignore_conflicts=True,
        )
        if owner is not None and owner.pk != actor.user_id:
            notify.assigned(action=action, actor=actor.user)
        events.actions_changed([action], created=True)
    return action


EDITABLE_FIELDS = ("title", "description", "owner", "due_date", "priority")


def action_update(
    *, action: RemediationAction, actor: Membership, **changes: object
) -> RemediationAction:
    """Edit title, description, owner, due date or priority. A priority set here is kept;
    clearing it (None) goes back to the derived one."""
    _require_manager(actor)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    org = action.organisation
    if "owner" in changes:
        _member_user(org, changes["owner"])  # type: ignore[arg-type]
    _check_due(changes.get("due_date"))
    if "priority" in changes and changes["priority"] and changes["priority"] not in Priority.values:
        raise ValidationError({"priority": _("Choose a valid priority.")})
    with transaction.atomic():
        locked = RemediationAction.objects.select_for_update().get(pk=action.pk)
        if not locked.is_active:
            raise ValidationError(_("Reopen the action before changing it."))
        before_owner = locked.owner_id
        for field, value in changes.items():
            if field == "priority":
                continue
            setattr(locked, field, value.strip() if isinstance(value, str) else value)
        if "priority" in changes:
            locked.priority_manual = bool(changes["priority"])
            if changes["priority"]:
                locked.priority = changes["priority"]
        if not locked.priority_manual:
            findings = list(locked.findings.select_related("obligation__penalty"))
            if findings:
                locked.priority = priority_for(findings, locked.due_date, today_for(org))
        locked.full_clean(exclude=["organisation", "system"])
        locked.save()
        if locked.owner_id and locked.owner_id != before_owner and locked.owner_id != actor.user_id:
            notify.assigned(action=locked, actor=actor.user)
        events.actions_changed([locked])
    return locked


# --- The status workflow -----------------------------------------------------------------------


def allowed_moves(action: RemediationAction, actor: Membership) -> list[str]:
    """The statuses this member may move the action to now (for the page's buttons)."""
    if not actor.can_edit:
        return []
    moves = []
    for target in TRANSITIONS[action.status]:
        if (target in MANAGER_MOVES or action.status in REOPEN_FROM) and (
            actor.role not in MANAGER_ROLES
        ):
            continue
        if target == S.VERIFIED and (actor.user_id is None or action.done_by_id == actor.user_id):
            continue
        moves.append(target)
    return moves


def action_transition(
    *,
    action: RemediationAction,
    actor: Membership,
    status: str,
    reason: str = "",
    origin: str = "",
) -> RemediationAction:
    """Move an action along its workflow.

    Verifying needs a compliance officer or admin other than whoever marked it done, and marks
    the gaps it closes as met; an API key (no person) never verifies. Cancelling needs a reason.
    Reopening a verified action puts its findings back as they were. `origin` names the
    ticketing system a change came from, so it is not pushed back there."""
    _require_editor(actor)
    reason = (reason or "").strip()
    with transaction.atomic():
        locked = RemediationAction.objects.select_for_update().get(pk=action.pk)
        current = locked.status
        if status not in TRANSITIONS.get(current, ()):
            raise ValidationError(
                {
                    "status": _("An action that is %(current)s cannot become %(target)s.")
                    % {
                        "current": S(current).label.lower(),
                        "target": S(status).label.lower() if status in S.values else status,
                    }
                }
            )
        if (status in MANAGER_MOVES or current in REOPEN_FROM) and actor.role not in MANAGER_ROLES:
            raise ValidationError(_("Only a compliance officer or an admin can do this."))
        if status == S.CANCELLED and not reason:
            raise ValidationError({"reason": _("Say why the action is cancelled.")})
        if status == S.VERIFIED and actor.user_id is None:
            raise ValidationError(_("A person must verify the work, not an API client."))
        if status == S.VERIFIED and locked.done_by_id == actor.user_id:
            raise ValidationError(
                _("Someone other than whoever completed the work must verify it.")
            )
        now = timezone.now()
        touched: list[Finding] = []
        fields = ["status", "updated_at"]
        if status == S.DONE:
            locked.done_by, locked.done_at = actor.user, now
            fields += ["done_by", "done_at"]
        elif status == S.VERIFIED:
            locked.verified_by, locked.verified_at = actor.user, now
            fields += ["verified_by", "verified_at"]
            touched = _close_findings(locked, actor)
        elif status == S.CANCELLED:
            locked.cancel_reason = reason
            fields.append("cancel_reason")
        elif status == S.OPEN:  # reopening
            if current == S.VERIFIED:
                touched = _reopen_findings(locked, actor)
            locked.verified_by = locked.verified_at = None
            locked.done_by = locked.done_at = None
            locked.cancel_reason = ""
            fields += ["verified_by", "verified_at", "done_by", "done_at", "cancel_reason"]
        elif status == S.IN_PROGRESS and current == S.DONE:
            locked.done_by = locked.done_at = None
            fields += ["done_by", "done_at"]
        locked.status = status
        locked.save(update_fields=fields)
        if reason and status != S.CANCELLED:
            ActionComment.objects.create(
                organisation=locked.organisation, action=locked, author=actor.user, body=reason
            )
        events.actions_changed([locked], origin=origin)
        events.findings_updated(touched)
    return locked


def _current_links(action: RemediationAction):
    """Links to findings of each system's latest assessment, locked with their findings."""
    return (
        ActionFinding.objects.filter(action=action, finding__assessment__latest=True)
        .select_related("finding__assessment")
        # The assessment too: a submit racing a verification must wait for it, or see it.
        .select_for_update(of=("self", "finding", "finding__assessment"))
    )


def _close_findings(action: RemediationAction, actor: Membership) -> list[Finding]:
    now = timezone.now()
    closed = []
    for link in _current_links(action):
        finding = link.finding
        if finding.status not in GAP_STATUSES or not finding.assessment.is_editable:
            # An assessment awaiting approval or approved is not rewritten; the next run
            # carries the verified action's result forward (see `runner._carry_links`).
            continue
        link.status_before_verify = finding.status
        link.save(update_fields=["status_before_verify"])
        finding.status = FindingStatus.MET
        finding.updated_by = actor.user
        finding.updated_at = now
        finding.save(update_fields=["status", "updated_by", "updated_at"])
        closed.append(finding)
    return closed


def _reopen_findings(action: RemediationAction, actor: Membership) -> list[Finding]:
    now = timezone.now()
    reopened = []
    for link in _current_links(action).exclude(status_before_verify=""):
        finding = link.finding
        if finding.status != FindingStatus.MET:
            link.status_before_verify = ""  # someone has judged it since: leave it
        elif finding.assessment.is_editable:
            finding.status = link.status_before_verify
            finding.updated_by = actor.user
            finding.updated_at = now
            finding.save(update_fields=["status", "updated_by", "updated_at"])
            link.status_before_verify = ""
            reopened.append(finding)
        # Otherwise the assessment is awaiting approval or approved and is not rewritten: the
        # link keeps the status, and the next run puts it back (`runner._carry_links`).
        link.save(update_fields=["status_before_verify"])
    return reopened


# --- Bulk --------------------------------------------------------------------------------------


@dataclass
class BulkResult:
    updated: int
    errors: dict[str, str]  # action code -> why it was left alone


def actions_bulk_update(
    *,
    org: Organisation,
    actor: Membership,
    actions: Iterable[RemediationAction],
    owner: User | None = None,
    status: str = "",
    priority: str = "",
    due_date: dt.date | None = None,
    reason: str = "",
) -> BulkResult:
    """Assign, re-prioritise, re-date or move several actions at once, all or nothing: if any
    action refuses the change, none changes and the errors say which and why."""
    _require_manager(actor)
    actions = list(actions)
    if not actions:
        raise ValidationError(_("Choose at least one action."))
    if not (owner or status or priority or due_date):
        raise ValidationError(_("Choose what to change."))
    _member_user(org, owner)  # once, rather than as the same error for every action
    _check_due(due_date)
    if status and status not in S.values:
        raise ValidationError({"status": _("Choose a valid status.")})
    if priority and priority not in Priority.values:
        raise ValidationError({"priority": _("Choose a valid priority.")})
    errors: dict[str, str] = {}
    with transaction.atomic():
        for action in actions:
            if action.organisation_id != org.pk:
                raise ValidationError(_("Choose actions of this organisation."))
            try:
                with transaction.atomic():
                    changes: dict[str, object] = {}
                    if owner is not None:
                        changes["owner"] = owner
                    if priority:
                        changes["priority"] = priority
                    if due_date:
                        changes["due_date"] = due_date
                    if changes:
                        action_update(action=action, actor=actor, **changes)
                    if status and status != action.status:
                        action_transition(action=action, actor=actor, status=status, reason=reason)
            except ValidationError as exc:
                errors[str(action.code)] = " ".join(exc.messages)
        if errors:
            transaction.set_rollback(True)
            return BulkResult(updated=0, errors=errors)
    return BulkResult(updated=len(actions), errors={})


# --- Comments and evidence ---------------------------------------------------------------------

MENTION = re.compile(r"@([\w.+-]+@[\w-]+(?:\.[\w-]+)+)")


def comment_add(
    *,
    action: RemediationAction,
    actor: Membership,
    body: str,
    mention: Sequence[User] = (),
) -> ActionComment:
    """Comment on an action. Members named as `@their.e-mail@example.com` in the text, or
    chosen in `mention`, are notified."""
    _require_editor(actor)
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": _("Write something first.")})
    if len(body) > 10_000:
        raise ValidationError({"body": _("Keep a comment under 10,000 characters.")})
    org = action.organisation
    named = Q(pk__in=[u.pk for u in mention])
    for email in {e.lower() for e in MENTION.findall(body)}:
        named |= Q(email__iexact=email)
    members = list(User.objects.filter(memberships__organisation=org).filter(named).distinct())
    if len({u.pk for u in mention} - {u.pk for u in members}):
        raise ValidationError({"mention": _("Only members of the organisation can be mentioned.")})
    with transaction.atomic():
        comment = ActionComment.objects.create(
            organisation=org, action=action, author=actor.user, body=body
        )
        comment.mentions.set(members)
        notify.mentioned(comment=comment, recipients=[u for u in members if u.pk != actor.user_id])
    return comment


@dataclass(frozen=True)
class FileType:
    content_type: str
    signatures: tuple[bytes, ...]  # empty: text, checked by decoding


FILE_TYPES: dict[str, FileType] = {
    "pdf": FileType("application/pdf", (b"%PDF-",)),
    "png": FileType("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "jpg": FileType("image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": FileType("image/jpeg", (b"\xff\xd8\xff",)),
    "docx": FileType(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document", (b"PK\x03\x04",)
    ),
    "xlsx": FileType(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (b"PK\x03\x04",)
    ),
    "pptx": FileType(
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        (b"PK\x03\x04",),
    ),
    "csv": FileType("text/csv", ()),
    "txt": FileType("text/plain", ()),
    "md": FileType("text/markdown", ()),
    "json": FileType("application/json", ()),
}


def _check_file(upload: UploadedFile) -> FileType:
    name = upload.name or ""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    kind = FILE_TYPES.get(extension)
    if kind is None:
        raise ValidationError(
            {
                "file": _("Upload a file of one of these types: %(types)s.")
                % {"types": ", ".join(sorted(FILE_TYPES))}
            }
        )
    limit = settings.EVIDENCE_MAX_BYTES
    if upload.size is None or upload.size > limit:
        raise ValidationError(
            {"file": _("Files can be up to %(size)s.") % {"size": filesizeformat(limit)}}
        )
    if upload.size == 0:
        raise ValidationError({"file": _("The file is empty.")})
    upload.seek(0)
    head = upload.read(4096)
    upload.seek(0)
    if kind.signatures:
        if not any(head.startswith(sig) for sig in kind.signatures):
            raise ValidationError(
                {"file": _("The file's content is not %(type)s.") % {"type": extension.upper()}}
            )
    elif not _is_text(head):
        raise ValidationError(
            {"file": _("The file's content is not %(type)s.") % {"type": extension.upper()}}
        )
    return kind


def _is_text(head: bytes) -> bool:
    """UTF-8 without NUL bytes; `head` may end inside a multi-byte character."""
    if b"\x00" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def evidence_add_file(
    *, action: RemediationAction, actor: Membership, upload: UploadedFile, title: str = ""
) -> ActionEvidence:
    """Attach a file: its type is judged by extension and content, never by what the browser
    claims, and it is stored under an opaque name through the default storage."""
    _require_editor(actor)
    kind = _check_file(upload)
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    evidence = ActionEvidence(
        organisation=action.organisation,
        action=action,
        kind=EvidenceKind.FILE,
        title=(title or upload.name or "").strip()[:200],
        file_name=(upload.name or "")[:255],
        content_type=kind.content_type,
        size=upload.size or 0,
        sha256=digest.hexdigest(),
        added_by=actor.user,
    )
    with transaction.atomic():
        evidence.file.save(evidence.code.hex, upload, save=False)
        try:
            evidence.save()
        except Exception:
            evidence.file.delete(save=False)
            raise
    return evidence


def evidence_add_link(
    *, action: RemediationAction, actor: Membership, url: str, title: str
) -> ActionEvidence:
    _require_editor(actor)
    evidence = ActionEvidence(
        organisation=action.organisation,
        action=action,
        kind=EvidenceKind.LINK,
        title=(title or "").strip(),
        url=(url or "").strip(),
        added_by=actor.user,
    )
    # added_by is None for an API key.
    evidence.full_clean(exclude=["organisation", "action", "file", "added_by"])
    if not evidence.url:  # the model allows it blank (files have none); a link needs one
        raise ValidationError({"url": _("Give the link's address.")})
    if ActionEvidence.objects.filter(action=action, url=evidence.url).exists():
        raise ValidationError({"url": _("This link is already attached.")})
    evidence.save()
    return evidence


def evidence_delete(*, evidence: ActionEvidence, actor: Membership) -> None:
    """Remove evidence: whoever added it, or a manager. A verified action keeps the evidence
    it was verified on until it is reopened."""
    _require_editor(actor)
    if evidence.added_by_id != actor.user_id and actor.role not in MANAGER_ROLES:
        raise ValidationError(
            _("Only whoever added it, a compliance officer or an admin can remove evidence.")
        )
    with transaction.atomic():
        action = RemediationAction.objects.select_for_update().get(pk=evidence.action_id)
        if action.status == S.VERIFIED:
            raise ValidationError(_("Reopen the action before removing its evidence."))
        evidence.delete()  # the stored file goes once this commits (models.delete_stored_file)


# --- From assessment runs ----------------------------------------------------------------------


def open_for_gaps(*, assessments: Sequence) -> dict[int, list[RemediationAction]]:
    """Open an action, owned by the system's owner, for every open gap in a binding obligation
    that no action covers yet. A cancelled action still covers its gap: someone decided.
    Returns the actions opened, by assessment id."""
    orgs = {a.organisation_id: a.organisation for a in assessments if a.organisation.auto_actions}
    if not orgs:
        return {}
    gaps = list(
        Finding.objects.filter(
            assessment__in=[a.pk for a in assessments if a.organisation_id in orgs],
            status__in=GAP_STATUSES,
            legal_force=Obligation.LegalForce.BINDING,
        )
        .exclude(action_links__isnull=False)
        .select_related("obligation__penalty", "system__owner")
        .order_by("id")
    )
    if not gaps:
        return {}
    opened: dict[int, list[RemediationAction]] = {}
    for org_id, org in orgs.items():
        theirs = [f for f in gaps if f.organisation_id == org_id]
        if not theirs:
            continue
        today = today_for(org)
        # A system owner who has left the organisation owns nothing new here.
        members = set(Membership.objects.for_org(org).values_list("user_id", flat=True))
        with translation.override(org.default_language):
            created = [
                RemediationAction(
                    organisation=org,
                    system=finding.system,
                    title=f"{finding.obligation_code}: {finding.obligation.title}"[:300],
                    description=finding.obligation.summary,
                    owner=finding.system.owner if finding.system.owner_id in members else None,
                    due_date=finding.due_date,
                    priority=priority_for([finding], finding.due_date, today),
                    origin=ActionOrigin.AUTO,
                    created_by=None,
                )
                for finding in theirs
            ]
        RemediationAction.objects.bulk_create(created)
        ActionFinding.objects.bulk_create(
            [
                ActionFinding(organisation=org, action=action, finding=finding)
                for action, finding in zip(created, theirs, strict=True)
            ]
        )
        for action, finding in zip(created, theirs, strict=True):
            opened.setdefault(finding.assessment_id, []).append(action)
        events.actions_changed(created, created=True)
    return opened


# --- The API's single-call edits ---------------------------------------------------------------


def action_change(
    *,
    action: RemediationAction,
    actor: Membership,
    changes: dict[str, object],
    status: str = "",
    reason: str = "",
    check: Callable[[RemediationAction], None] | None = None,
) -> RemediationAction:
    """Edit fields, then move the status, all or nothing (the API's PATCH). `check` runs once
    the action is locked, before anything changes (a precondition such as If-Match); a status
    the action already has is no move."""
    with transaction.atomic():
        locked = RemediationAction.objects.select_for_update().get(pk=action.pk)
        if check is not None:
            check(locked)
        if changes:
            locked = action_update(action=locked, actor=actor, **changes)
        if status and status != locked.status:
            locked = action_transition(action=locked, actor=actor, status=status, reason=reason)
    return locked


def deletable(action: RemediationAction) -> bool:
    """A mistake can be deleted: an open action opened by hand that nobody has worked on (no
    comments, evidence or ticket in a connected tool). Anything else is cancelled instead, so
    its history stays."""
    return (
        action.origin == ActionOrigin.MANUAL
        and action.status == S.OPEN
        and not action.comments.exists()
        and not action.evidence.exists()
        and not action.tickets.filter(connection__isnull=False).exclude(external_id="").exists()
    )


def action_delete(*, action: RemediationAction, actor: Membership) -> None:
    """Delete an action opened by mistake (see `deletable`); the audit triggers keep the row."""
    _require_manager(actor)
    with transaction.atomic():
        locked = RemediationAction.objects.select_for_update().get(pk=action.pk)
        if not deletable(locked):
            raise ValidationError(
                _(
                    "Only an open action opened by hand, with no comments, evidence or synced "
                    "tickets, can be deleted: cancel it instead."
                ),
                code="in_use",
            )
        locked.delete()
