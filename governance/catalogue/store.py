"""Between catalogue snapshots (plain data, see loader.py) and the database.

A snapshot is {"release": {...}, "regulations": {code: {...}}, "provisions": …,
"questions": {key: …}, "rules": …, "penalties": …, "obligations": …, "milestones": …,
"crosswalk": {"FROM->TO": …}, "digest": "…"}, each entry flat as schema.normalise makes it.
"""

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from ..models import (
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
from .loader import Catalogue, CatalogueError, digest, summary


class ReleaseLocked(CatalogueError):
    pass


BILINGUAL = {
    "regulations": ["title", "short_title", "summary"],
    "provisions": ["title", "summary"],
    "questions": ["label", "help"],
    "rules": ["explanation"],
    "penalties": ["title"],
    "obligations": ["title", "summary", "guidance"],
    "milestones": ["title", "summary"],
    "crosswalk": ["rationale"],
}


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def write_content(release: CatalogueRelease, snapshot: dict) -> None:
    """Create the rows of one release from a snapshot (the release must be empty)."""
    regulations = {
        code: Regulation(
            release=release,
            code=code,
            jurisdiction=r["jurisdiction"],
            kind=r["kind"],
            title_en=r["title_en"],
            title_ja=r["title_ja"],
            short_title_en=r["short_title_en"],
            short_title_ja=r["short_title_ja"],
            reference=r["reference"],
            url=r["url"],
            in_force_from=_date(r["in_force_from"]),
            summary_en=r["summary_en"],
            summary_ja=r["summary_ja"],
            source=r["source"],
        )
        for code, r in snapshot["regulations"].items()
    }
    Regulation.objects.bulk_create(regulations.values())
    provisions = {
        code: Provision(
            release=release,
            regulation=regulations[p["regulation"]],
            code=code,
            reference=p["reference"],
            kind=p["kind"],
            title_en=p["title_en"],
            title_ja=p["title_ja"],
            summary_en=p["summary_en"],
            summary_ja=p["summary_ja"],
            source=p["source"],
            position=p["position"],
        )
        for code, p in snapshot["provisions"].items()
    }
    Provision.objects.bulk_create(provisions.values())
    with_parent = []
    for code, p in snapshot["provisions"].items():
        if p["parent"]:
            provisions[code].parent = provisions[p["parent"]]
            with_parent.append(provisions[code])
    Provision.objects.bulk_update(with_parent, ["parent"])
    penalties = {
        code: PenaltyTier(
            release=release,
            code=code,
            regulation=regulations[p["regulation"]],
            provision=provisions.get(p["provision"] or ""),
            title_en=p["title_en"],
            title_ja=p["title_ja"],
            max_eur=int(p["max_eur"]),
            max_turnover_percent=Decimal(str(p["max_turnover_percent"])),
            sme_rule=p["sme_rule"],
        )
        for code, p in snapshot["penalties"].items()
    }
    PenaltyTier.objects.bulk_create(penalties.values())
    Question.objects.bulk_create(
        Question(
            release=release,
            key=key,
            type=q["type"],
            choices=q["choices"],
            label_en=q["label_en"],
            label_ja=q["label_ja"],
            help_en=q["help_en"],
            help_ja=q["help_ja"],
            citation=q["citation"],
            section=q["section"],
            ask_when=q["ask_when"],
            position=q["order"],
        )
        for key, q in snapshot["questions"].items()
    )
    ClassificationRule.objects.bulk_create(
        ClassificationRule(
            release=release,
            code=code,
            label=r["label"],
            detail=r["detail"],
            when=r["when"],
            citation=r["citation"],
            explanation_en=r["explanation_en"],
            explanation_ja=r["explanation_ja"],
            position=r["order"],
        )
        for code, r in snapshot["rules"].items()
    )
    obligations = {
        code: Obligation(
            release=release,
            regulation=regulations[o["regulation"]],
            provision=provisions[o["provision"]],
            code=code,
            title_en=o["title_en"],
            title_ja=o["title_ja"],
            summary_en=o["summary_en"],
            summary_ja=o["summary_ja"],
            roles=o["roles"],
            applies_when=o["applies_when"],
            applies_from=_date(o["applies_from"]),
            applies_from_rules=o["applies_from_rules"],
            legal_force=o["legal_force"],
            penalty=penalties.get(o["penalty"] or ""),
            guidance_en=o["guidance_en"],
            guidance_ja=o["guidance_ja"],
            evidence=o["evidence"],
            source=o["source"],
        )
        for code, o in snapshot["obligations"].items()
    }
    Obligation.objects.bulk_create(obligations.values())
    Milestone.objects.bulk_create(
        Milestone(
            release=release,
            regulation=regulations[m["regulation"]],
            code=code,
            date=_date(m["date"]),
            title_en=m["title_en"],
            title_ja=m["title_ja"],
            summary_en=m["summary_en"],
            summary_ja=m["summary_ja"],
        )
        for code, m in snapshot["milestones"].items()
    )
    CrosswalkLink.objects.bulk_create(
        CrosswalkLink(
            release=release,
            source=obligations[link["from"]],
            target=obligations[link["to"]],
            relationship=link["relationship"],
            rationale_en=link["rationale_en"],
            rationale_ja=link["rationale_ja"],
            origin=link["origin"],
            publisher=link["publisher"],
            reference=link["reference"],
        )
        for link in snapshot["crosswalk"].values()
    )


def delete_content(release: CatalogueRelease) -> None:
    for model in (CrosswalkLink, Milestone, Obligation, ClassificationRule, Question,
                  PenaltyTier, Provision, Regulation):  # fmt: skip
        model.objects.filter(release=release).delete()


def _texts(row, names: list[str]) -> dict:
    return {f"{n}_{lang}": getattr(row, f"{n}_{lang}") for n in names for lang in ("en", "ja")}


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def _number(value) -> int | float:
    value = float(value)
    return int(value) if value.is_integer() else value


def snapshot_of(release: CatalogueRelease) -> dict:
    """The release's content in the files' shape: for diffs, digests and export."""
    positions: dict[str, int] = {}

    def pos(kind: str) -> int:
        positions[kind] = positions.get(kind, -1) + 1
        return positions[kind]

    snapshot: dict = {
        "release": {
            "code": release.code,
            "title_en": release.title_en,
            "title_ja": release.title_ja,
            "description_en": release.description_en,
            "description_ja": release.description_ja,
            "effective_on": release.effective_on.isoformat(),
            "current": release.is_current,
        },
        "regulations": {
            r.code: {
                "code": r.code,
                "jurisdiction": r.jurisdiction,
                "kind": r.kind,
                **_texts(r, BILINGUAL["regulations"]),
                "reference": r.reference,
                "url": r.url,
                "in_force_from": _iso(r.in_force_from),
                "source": r.source,
                "position": pos("regulations"),
            }
            for r in Regulation.objects.for_release(release).order_by("id")
        },
        "provisions": {
            p.code: {
                "code": p.code,
                "regulation": p.regulation.code,
                "reference": p.reference,
                "kind": p.kind,
                "parent": p.parent.code if p.parent else None,
                **_texts(p, BILINGUAL["provisions"]),
                "source": p.source,
                "position": pos("provisions"),
            }
            for p in Provision.objects.for_release(release)
            .select_related("regulation", "parent")
            .order_by("position", "id")
        },
        "questions": {
            q.key: {
                "key": q.key,
                "type": q.type,
                "choices": q.choices,
                **_texts(q, BILINGUAL["questions"]),
                "citation": q.citation,
                "section": q.section,
                "ask_when": q.ask_when,
                "order": q.position,
                "position": pos("questions"),
            }
            for q in Question.objects.for_release(release).order_by("id")
        },
        "rules": {
            r.code: {
                "code": r.code,
                "label": r.label,
                "detail": r.detail,
                "when": r.when,
                "citation": r.citation,
                **_texts(r, BILINGUAL["rules"]),
                "order": r.position,
                "position": pos("rules"),
            }
            for r in ClassificationRule.objects.for_release(release).order_by("id")
        },
        "penalties": {
            p.code: {
                "code": p.code,
                "regulation": p.regulation.code,
                "provision": p.provision.code if p.provision else None,
                **_texts(p, BILINGUAL["penalties"]),
                "max_eur": p.max_eur,
                "max_turnover_percent": _number(p.max_turnover_percent),
                "sme_rule": p.sme_rule,
                "position": pos("penalties"),
            }
            for p in PenaltyTier.objects.for_release(release)
            .select_related("regulation", "provision")
            .order_by("id")
        },
        "obligations": {
            o.code: {
                "code": o.code,
                "provision": o.provision.code,
                "regulation": o.regulation.code,
                **_texts(o, BILINGUAL["obligations"]),
                "roles": sorted(o.roles),
                "applies_when": o.applies_when,
                "applies_from": o.applies_from.isoformat(),
                "applies_from_rules": o.applies_from_rules,
                "legal_force": o.legal_force,
                "penalty": o.penalty.code if o.penalty else None,
                "evidence": o.evidence,
                "source": o.source,
                "position": pos("obligations"),
            }
            for o in Obligation.objects.for_release(release)
            .select_related("provision", "regulation", "penalty")
            .order_by("id")
        },
        "milestones": {
            m.code: {
                "code": m.code,
                "regulation": m.regulation.code,
                "date": m.date.isoformat(),
                **_texts(m, BILINGUAL["milestones"]),
                "position": pos("milestones"),
            }
            for m in Milestone.objects.for_release(release)
            .select_related("regulation")
            .order_by("id")
        },
        "crosswalk": {
            f"{link.source.code}->{link.target.code}": {
                "from": link.source.code,
                "to": link.target.code,
                "relationship": link.relationship,
                **_texts(link, BILINGUAL["crosswalk"]),
                "origin": link.origin,
                "publisher": link.publisher,
                "reference": link.reference,
                "position": pos("crosswalk"),
            }
            for link in CrosswalkLink.objects.for_release(release)
            .select_related("source", "target")
            .order_by("id")
        },
    }
    snapshot["digest"] = digest(snapshot)
    return snapshot


def announce_current(release: CatalogueRelease) -> None:
    """Once committed, let the assessments app find the assessments the release changes."""
    from assessments.tasks import release_published  # assessments builds on the catalogue

    transaction.on_commit(lambda: release_published.delay(release.pk))


@transaction.atomic
def write(catalogue: Catalogue) -> list[str]:
    """Store every release of the files; published releases must be unchanged. A report."""
    report = []
    for entry in catalogue.releases:
        snapshot = catalogue.snapshots[entry["code"]]
        release = CatalogueRelease.objects.select_for_update().filter(code=entry["code"]).first()
        if release is not None and release.source_digest == snapshot["digest"]:
            report.append(f"{release.code}: unchanged")
            continue
        if release is not None and not release.is_draft:
            raise ReleaseLocked(
                [
                    f"releases[{release.code}]: this release is published and the files now "
                    "differ from it; published releases never change. Give the new content a "
                    "release of its own in data/releases.yaml."
                ]
            )
        created = release is None
        if release is None:
            release = CatalogueRelease(code=entry["code"])
        else:
            delete_content(release)
        release.title_en, release.title_ja = entry["title_en"], entry["title_ja"]
        release.description_en = entry["description_en"]
        release.description_ja = entry["description_ja"]
        release.effective_on = _date(entry["effective_on"])
        release.status = CatalogueRelease.Status.PUBLISHED
        release.published_at = timezone.now()
        release.source_digest = snapshot["digest"]
        release.save()
        write_content(release, snapshot)
        action = "created" if created else "replaced"
        report.append(f"{release.code}: {action} — {summary(snapshot)}")
    current = CatalogueRelease.objects.filter(is_current=True).first()
    if current is None or current.source_digest:
        # The files decide which release is current, unless a curator published a newer one.
        wanted = catalogue.current
        if current is None or current.code != wanted:
            CatalogueRelease.objects.filter(is_current=True).update(is_current=False)
            CatalogueRelease.objects.filter(code=wanted).update(is_current=True)
            report.append(f"{wanted}: now the current release")
            announce_current(CatalogueRelease.objects.get(code=wanted))
    return report
