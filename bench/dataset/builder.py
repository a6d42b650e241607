"""The builder: organisations, members and systems drawn from a seeded generator, the engine
run in a pool of processes, and every row streamed to COPY (see the package's docstring)."""

# The dataset is drawn from seeded generators on purpose (the same data every build); nothing
# here is a secret.
# ruff: noqa: S311

from __future__ import annotations

import datetime as dt
import json
import math
import multiprocessing
import os
import random
import time
import uuid
import zoneinfo
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from ..core import Scale
from . import answers as gen
from .loading import Ids, Table, connect, models

Say = Callable[[str], None]

# The members' password. The bench database lives on loopback and is dropped by the next run;
# the mixed load signs in through the login form with it (Bench.env["BENCH_PASSWORD"]).
BENCH_PASSWORD = "kakehashi-bench-members"  # noqa: S105
LARGE_NAME = "Bench Large Organisation"
SMALL_NAME = "Bench Small Organisation {:02d}"
SEED = 9  # issue 9
SAMPLE = 200  # systems whose applicable counts start the running averages

# fmt: off
FINDING_MIX = {"open": 30, "met": 28, "partially_met": 12, "not_met": 10,
               "not_applicable": 7, "risk_accepted": 3}
VOLUNTARY_MIX = {"open": 45, "met": 18, "partially_met": 10, "not_met": 5,
                 "not_applicable": 16, "risk_accepted": 6}
GAPS = ("open", "partially_met", "not_met")
ACTION_MIX = {"open": 35, "in_progress": 25, "blocked": 7, "done": 10, "verified": 13,
              "cancelled": 10}
EVIDENCE_SHARE = 0.2  # of met findings
PRIORITIES = ("critical", "high", "medium", "low")

FIRST = ("Anna", "Lukas", "Sofia", "Mateo", "Emma", "Jan", "Chiara", "Pierre", "Ines", "Tomasz",
         "Yuki", "Haruto", "Sakura", "Ren", "Aoi", "Sota", "Hina", "Daiki", "Mei", "Kenji")
LAST = ("Schmidt", "Rossi", "Garcia", "Dubois", "Nowak", "Jansen", "Silva", "Novak", "Berg",
        "Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura")
VENDORS = ("Northwind AI", "Contoso Analytics", "Fabrikam Labs", "Kaiju Systems", "Sakura Data",
           "Tailspin Models", "Adatum Vision", "Litware")
MODELS = ("gpt-class LLM", "BERT-base", "XGBoost", "ResNet-50", "Llama-family 8B",
          "Gradient-boosted trees", "Logistic regression", "Whisper-small")
EVIDENCE_TITLES = ("Risk management plan", "Data governance policy", "Model card",
                   "Technical documentation", "Human oversight procedure", "DPIA", "Test report",
                   "Logging design", "Transparency notice", "Incident playbook")
FINDING_NOTES = ("Reviewed with the system owner.", "Waiting for the vendor's documentation.",
                 "Covered by the group policy; see the intranet.",
                 "Re-check after the next release.", "Agreed in the compliance committee.")
JUSTIFICATIONS = ("The system is not placed on the market in this form.",
                  "Handled by the provider under contract.",
                  "Residual risk accepted by the compliance committee.",
                  "The feature this duty concerns is switched off.")
CANCEL_REASONS = ("Superseded by a group-wide action.", "The system is being retired.",
                  "Duplicate of another action.")
ACTION_TITLES = ("Write the missing policy", "Collect evidence from the vendor",
                 "Update the technical documentation", "Train the operators",
                 "Add logging for the decision path", "Run a bias evaluation")
# fmt: on


# --- The engine, in worker processes --------------------------------------------------------------

# Set in the parent before the pool forks: the children inherit the compiled releases.
_RELEASES: dict[str, Any] = {}


def _compact(item) -> tuple:
    return (item.code, item.regulation, item.jurisdiction, list(item.roles), item.applies_from,
            item.route, item.legal_force, item.digest)  # fmt: skip


def trimmed(result) -> dict[str, Any]:
    """What an older assessment keeps of the engine's result: `result.to_json()` without the
    trail and the obligations (built directly, since to_json() of a whole result costs more
    than the evaluation)."""
    japan = result.japan
    return {
        "release": result.release,
        "release_digest": result.release_digest,
        "eu_tier": result.eu_tier,
        "gpai": result.gpai,
        "labels": [
            {"label": h.label, "detail": h.detail, "rule": h.rule, "citation": h.citation}
            for h in result.labels
        ],
        "roles": [
            {"role": h.role, "source": h.source, "citation": h.citation} for h in result.roles
        ],
        "japan": {
            "roles": list(japan.roles),
            "labels": list(japan.labels),
            "obligations": [
                {"role": o.role, "total": o.total, "by_force": dict(o.by_force)}
                for o in japan.obligations
            ],
        },
    }


def _evaluated(release, answers: dict, *, full: bool) -> dict[str, Any]:
    from assessments.engine import evaluate

    started = time.perf_counter()
    result = evaluate(release, answers)
    engine_ms = (time.perf_counter() - started) * 1000
    out = {
        "eu_tier": result.eu_tier,
        "trimmed": _json(trimmed(result)),
        "applicable": [_compact(a) for a in result.applicable],
        "not_applicable": len(result.not_applicable),
        "engine_ms": engine_ms,
    }
    if full:
        out["result"] = _json(result.to_json())
    return out


def _evaluate(job: tuple[int, dict, dict | None]) -> tuple[int, dict, dict | None]:
    """(job number, current release's evaluation, older release's evaluation or None)."""
    number, answers, older = job
    current = _evaluated(_RELEASES["current"], answers, full=True)
    old = None
    if older is not None and "old" in _RELEASES:
        old = _evaluated(_RELEASES["old"], older, full=False)
    return number, current, old


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _between(rng: random.Random, start: dt.datetime, end: dt.datetime) -> dt.datetime:
    return start + (end - start) * rng.random()


@dataclass
class Member:
    user_id: int
    email: str
    role: str


@dataclass
class OrgPlan:
    id: int
    name: str
    slug: str
    time_zone: str
    language: str
    members: list[Member]
    systems: int
    actions: int
    markets: tuple
    sme_odds: float
    voluntary_due_dates: bool
    gap_due_days: int
    org: Any = None  # an unsaved Organisation, for services.due_date

    def role(self, *roles: str) -> list[Member]:
        return [m for m in self.members if m.role in roles]


@dataclass
class Spec:
    """One system before evaluation."""

    plan: OrgPlan
    index: int  # within its organisation
    rng_seed: int
    profile: gen.Profile
    answers: dict
    older: dict | None


class Builder:
    def __init__(self, scale: Scale, *, url: str, say: Say):
        from django.contrib.auth.hashers import make_password

        from assessments.releases import compiled, current_release
        from governance.models import CatalogueRelease, Obligation

        self.scale = scale
        self.url = url
        self.say = say
        self.rng = random.Random(SEED)
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        self.models = models()
        self.password = make_password(BENCH_PASSWORD)
        current = current_release()
        if current is None:
            raise RuntimeError("no current catalogue release: run load_catalogue first")
        old = (
            CatalogueRelease.objects.filter(status=CatalogueRelease.Status.PUBLISHED)
            .exclude(pk=current.pk)
            .filter(effective_on__lt=current.effective_on)
            .order_by("-effective_on")
            .first()
        )
        self.release = current
        self.old_release = old
        _RELEASES.clear()
        _RELEASES["current"] = compiled(current)
        if old is not None:
            _RELEASES["old"] = compiled(old)
        self.obligations: dict[tuple[int, str], tuple] = {
            (row[0], row[1]): row[2:]
            for row in Obligation.objects.filter(
                release__in=[r for r in (current, old) if r is not None]
            ).values_list(
                "release_id", "code", "pk", "title_en", "title_ja", "summary_en", "summary_ja",
                "penalty__max_eur",
            )
        }  # fmt: skip
        start = dt.datetime.combine(current.effective_on, dt.time(9), tzinfo=dt.UTC)
        # Runs on the current release fall between its start and now (a window of 30 to 180 days).
        self.current_from = min(max(start, self.now - dt.timedelta(days=180)),
                                self.now - dt.timedelta(days=30))  # fmt: skip
        self.tables: dict[str, Table] = {
            name: Table(name, model, fields) for name, (model, fields) in self.models.items()
        }
        self.buffers: dict[str, list[tuple]] = {name: [] for name in self.tables}
        # The large organisation's findings still to write and systems still to build, and the
        # applicable counts seen so far: each system's history is sized from them (_runs).
        self.findings_left = float(scale.findings)
        self.systems_left = scale.systems
        self.seen = {"current": [0, 0], "old": [0, 0]}  # [obligations, runs]
        self.history = Counter()
        self.action_quota: dict[int, list[int]] = {}  # org id -> [remaining actions, systems]
        self.answer_sets: Counter[str] = Counter()
        self.dropped_answers = 0
        self.stats: Counter[str] = Counter()

    # --- Organisations and members ----------------------------------------------------------------

    def plan_orgs(self, ids: Ids) -> list[OrgPlan]:
        from governance.models import Organisation

        scale = self.scale
        plans = [
            self._org(ids, LARGE_NAME, "large", "Asia/Tokyo", "en", scale.members,
                      scale.systems, scale.actions, gen.LARGE_MARKETS, 0.05)
        ]  # fmt: skip
        per_system = scale.actions / max(scale.systems, 1)
        small_markets = ((["EU"], 35), (["JP"], 25), (["EU", "JP"], 35), (["EU", "other"], 5))
        for n in range(1, scale.small_orgs + 1):
            zone, language = (("Europe/Paris", "en"), ("Asia/Tokyo", "ja"))[n % 2]
            plans.append(
                self._org(ids, SMALL_NAME.format(n), f"small{n:02d}", zone, language,
                          3 + n % 3, scale.small_org_systems,
                          round(per_system * scale.small_org_systems), small_markets, 0.8)
            )  # fmt: skip
        for plan in plans:
            plan.org = Organisation(
                pk=plan.id, name=plan.name, time_zone=plan.time_zone,
                gap_due_days=plan.gap_due_days,
                voluntary_due_dates=plan.voluntary_due_dates, auto_actions=True,
            )  # fmt: skip
            self.action_quota[plan.id] = [plan.actions, plan.systems]
        return plans

    @staticmethod
    def _voluntary_due_dates(slug: str) -> bool:
        """The large organisation tracks Japan's guidelines with due dates like binding duties
        (so nearly every finding has one); half the small ones leave them without."""
        return slug == "large" or slug.endswith(("0", "2", "4", "6", "8"))

    @staticmethod
    def _gap_due_days(slug: str) -> int:
        """The large organisation gives itself 270 days to close a gap (the default is 90): with
        due dates carried from runs on the older release, its deadlines then spread over the
        past and the coming months rather than lying nearly all behind."""
        return 270 if slug == "large" else 90

    def _org(self, ids: Ids, name, slug, zone, language, members, systems, actions, markets,
             sme_odds) -> OrgPlan:  # fmt: skip
        rng = self.rng
        org_id = ids.one("organisation")
        created = self.now - dt.timedelta(days=rng.randint(700, 900))
        plan = OrgPlan(org_id, name, slug, zone, language, [], systems, actions, markets,
                       sme_odds, self._voluntary_due_dates(slug),
                       self._gap_due_days(slug))  # fmt: skip
        self.buffers["organisation"].append(
            (org_id, _uuid(rng), name, zone, language, ["EU", "JP"], created,
             plan.gap_due_days, plan.voluntary_due_dates, True)
        )  # fmt: skip
        admins = max(1, round(members * 0.06))
        officers = max(1, round(members * 0.1))
        viewers = max(1, round(members * 0.16))
        roles = ["admin"] * admins + ["compliance_officer"] * officers + ["viewer"] * viewers
        roles += ["contributor"] * max(0, members - len(roles))
        for i, role in enumerate(roles[:members], start=1):
            user_id = ids.one("user")
            email = f"{slug}-{i:03d}@bench.kakehashi.example"
            joined = created + dt.timedelta(days=rng.randint(0, 60))
            full_name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            self.buffers["user"].append(
                (user_id, self.password, None, False, email, full_name, "", False, True,
                 joined, "")
            )  # fmt: skip
            self.buffers["membership"].append(
                (ids.one("membership"), _uuid(rng), org_id, user_id, role, joined)
            )
            plan.members.append(Member(user_id, email, role))
        return plan

    # --- Systems and their answers ----------------------------------------------------------------

    def specs(self, plans: list[OrgPlan], out: list[Spec]) -> Iterator[tuple]:
        """Draw each system's answers (valid, and unlike every earlier system's where the
        questionnaire leaves room), append its Spec to `out`, and yield the engine's job."""
        current = _RELEASES["current"]
        old = _RELEASES.get("old")
        for plan in plans:
            for index in range(plan.systems):
                rng = random.Random(self.rng.getrandbits(64))
                profile, cleaned, key = self._draw(rng, plan, current)
                self.answer_sets[key] += 1
                older = gen.earlier(rng, old, cleaned) if old is not None else None
                spec = Spec(plan, index, rng.getrandbits(64), profile, cleaned, older)
                out.append(spec)
                yield len(out) - 1, cleaned, older

    def _draw(self, rng: random.Random, plan: OrgPlan, release) -> tuple[gen.Profile, dict, str]:
        """A profile and its answers, valid and unlike earlier systems' answers. A repeat is drawn
        again for the same kind of system in the same markets (so the mix of kinds and markets
        stays as drawn); only when a profile has no new answer set left (Japan only, say) does
        the system get another profile, and after that a repeat is let through."""
        found = None
        for _ in range(5):
            profile = gen.profile(rng, markets=plan.markets, sme_odds=plan.sme_odds)
            for _ in range(20):
                cleaned = gen.valid(release, gen.raw_answers(rng, release, profile))
                if cleaned is None:
                    self.dropped_answers += 1
                    continue
                key = json.dumps(cleaned, sort_keys=True)
                if key not in self.answer_sets:
                    return profile, cleaned, key
                if found is None:  # the first profile's repeat, should nothing new turn up
                    found = (profile, cleaned, key)
        if found is None:
            raise RuntimeError("the questionnaire refused every answer set drawn")
        return found

    # --- One system: its rows in every table ------------------------------------------------------

    def system(self, ids: Ids, spec: Spec, current: dict, old: dict | None) -> None:
        rng = random.Random(spec.rng_seed)
        plan = spec.plan
        profile = spec.profile
        editors = plan.role("admin", "compliance_officer", "contributor")
        approvers = plan.role("admin", "compliance_officer")
        system_id = ids.one("system")
        has_old, extra = self._runs(rng, plan, current, old)
        created = _between(rng, self.current_from - dt.timedelta(days=540),
                           self.current_from - dt.timedelta(days=20))  # fmt: skip
        times = sorted(
            _between(rng, self.current_from, self.now - dt.timedelta(hours=1))
            for _ in range(1 + extra)
        )
        runs = []  # (release, evaluation, answers, run time, system version, is latest)
        version = 2 if has_old else 1
        if has_old:
            old_at = _between(rng, created + dt.timedelta(hours=1), self.current_from)
            runs.append((self.old_release, old, spec.older, old_at, 1, False))
        for i, at in enumerate(times):
            runs.append((self.release, current, spec.answers, at, version, i == len(times) - 1))
        latest_at = None

        owner = rng.choice(editors) if rng.random() < 0.92 else None
        creator = rng.choice(editors)
        kind = profile.kind
        name = f"{kind.label} {spec.index + 1:05d}"
        description = gen.describe(rng, profile)
        vendor = rng.choice(VENDORS) if profile.sourcing in ("third_party", "hybrid") else ""
        model_name = rng.choice(MODELS)
        model_version = f"{rng.randint(1, 5)}.{rng.randint(0, 12)}"
        fields = {
            "name": name, "description": description, "intended_purpose": description,
            "business_unit": rng.choice(kind.units),
            "lifecycle_stage": gen._weighted(rng, {"production": 50, "validation": 15,
                                                   "development": 20, "planned": 10,
                                                   "retired": 5}),
            "sourcing": profile.sourcing, "vendor": vendor, "model_name": model_name,
            "model_version": model_version,
        }  # fmt: skip
        # The registry's versions: created on the older release, then moved to the current one
        # (with its answers changed, for about a third); or created on the current one.
        versions = [(self.release, spec.answers, created, ["created"])]
        if has_old:
            moved = ["answers"] if spec.older != spec.answers else ["release"]
            versions = [
                (self.old_release, spec.older, created, ["created"]),
                (self.release, spec.answers, self.current_from + dt.timedelta(days=1), moved),
            ]
        version_rows = []
        for number, (release, answers, at, changed) in enumerate(versions, start=1):
            data = {**fields, "owner": owner.email if owner else None,
                    "release": release.code, "answers": answers}  # fmt: skip
            version_rows.append(
                (ids.one("version"), plan.id, system_id, number, _json(data), changed,
                 creator.user_id, at)
            )  # fmt: skip
        self.buffers["version"].extend(version_rows)

        # Findings of the latest run first: their statuses decide the history's.
        latest = self._statuses(rng, current["applicable"], approvers, editors)
        actions = self._actions(ids, rng, plan, system_id, owner, latest, runs[-1][3])
        previous_id = None
        previous: dict[str, tuple] = {}  # code -> (finding id, digest, applies_from, due)
        tz = zoneinfo.ZoneInfo(plan.time_zone)
        for release, evaluation, answers, at, system_version, is_latest in runs:
            assessment_id = ids.one("assessment")
            today = at.astimezone(tz).date()
            applicable = evaluation["applicable"]
            statuses = latest if is_latest else self._earlier_statuses(rng, applicable, latest)
            finding_ids = ids.take("finding", len(applicable))
            rows, carried, by_code = self._findings(
                rng, plan, release, assessment_id, system_id, applicable, finding_ids,
                statuses, previous, today, at,
            )  # fmt: skip
            suggested = self._write_findings(rng, plan, release, rows, by_code, at, editors)
            by_jurisdiction = Counter(item[2] for item in applicable)
            summary = {
                "applicable": len(applicable),
                "not_applicable": evaluation["not_applicable"],
                "by_jurisdiction": dict(by_jurisdiction),
                "binding": sum(1 for item in applicable if item[6] == "binding"),
                "carried_forward": carried,
                "suggested": suggested,
                "unanswered": [],
            }
            finished = self._assessment(
                rng, ids, plan, assessment_id, system_id, release, previous_id, answers,
                system_version, evaluation, summary, at, is_latest, editors, approvers,
            )  # fmt: skip
            previous_id = assessment_id
            previous = {
                item[0]: (fid, item[7], item[4], row[14])
                for item, fid, row in zip(applicable, finding_ids, rows, strict=True)
            }
            if is_latest:
                latest_at = finished
                self._link_actions(actions, previous)

        self.buffers["system"].append(
            (system_id, _uuid(rng), plan.id, name, description, description,
             owner.user_id if owner else None, fields["business_unit"],
             fields["lifecycle_stage"], profile.sourcing, vendor, model_name, model_version,
             self.release.pk, _json(spec.answers), list(spec.answers.get("markets") or []),
             [f"eu.{r}" for r in spec.answers.get("eu_roles") or []],
             [f"jp.{r}" for r in spec.answers.get("jp_roles") or []], version,
             current["eu_tier"], latest_at, None, creator.user_id, created,
             max(version_rows[-1][7], created))
        )  # fmt: skip
        self.stats["systems"] += 1

    def _statuses(self, rng, applicable, approvers, editors) -> dict[str, tuple]:
        """code -> (status, justification, risk approver id, notes, updated by id)."""
        out = {}
        for item in applicable:
            mix = VOLUNTARY_MIX if item[6] == "voluntary" else FINDING_MIX
            status = gen._weighted(rng, mix)
            justification = ""
            approver = None
            if status in ("not_applicable", "risk_accepted"):
                justification = rng.choice(JUSTIFICATIONS)
            if status == "risk_accepted":
                approver = rng.choice(approvers).user_id
            notes = rng.choice(FINDING_NOTES) if status != "open" and rng.random() < 0.25 else ""
            by = rng.choice(editors).user_id if status != "open" else None
            out[item[0]] = (status, justification, approver, notes, by)
        return out

    def _earlier_statuses(self, rng, applicable, latest) -> dict[str, tuple]:
        """An earlier run's statuses: the latest one's for about half, else still open (the
        work went on after that run)."""
        out = {}
        for item in applicable:
            now = latest.get(item[0])
            if now is not None and rng.random() < 0.5:
                out[item[0]] = now
            else:
                out[item[0]] = ("open", "", None, "", None)
        return out

    def _findings(self, rng, plan, release, assessment_id, system_id, applicable, finding_ids,
                  statuses, previous, today, at):  # fmt: skip
        from assessments.services import due_date

        rows = []
        carried = 0
        by_code = {}
        for item, finding_id in zip(applicable, finding_ids, strict=True):
            code, regulation, jurisdiction, roles, applies_from, route, force, digest = item
            obligation = self.obligations[(release.pk, code)]
            due = due_date(org=plan.org, legal_force=force, applies_from=applies_from,
                           today=today)  # fmt: skip
            carried_from = None
            before = previous.get(code)
            if before is not None:
                if before[2] == applies_from and before[3] and due:
                    due = before[3]  # re-assessing never restarts the clock
                if before[1] == digest:
                    carried_from = before[0]
                    carried += 1
            status, justification, approver, notes, by = statuses[code]
            updated_at = None
            if by is not None:
                updated_at = min(at + dt.timedelta(days=rng.randint(1, 60)), self.now)
            row = [finding_id, _uuid(rng), plan.id, assessment_id, system_id, obligation[0],
                   code, digest, regulation, jurisdiction, force, roles, applies_from, route,
                   due, status, justification, approver, notes, carried_from, "[]", at,
                   updated_at, by]  # fmt: skip
            rows.append(row)
            by_code[code] = row
        return rows, carried, by_code

    def _write_findings(self, rng, plan, release, rows, by_code, at, editors) -> int:
        """Evidence on some met findings, the crosswalk suggestions, then the rows."""
        evidence: dict[str, list[dict]] = {}
        for row in rows:
            if row[15] == "met" and rng.random() < EVIDENCE_SHARE:
                title = rng.choice(EVIDENCE_TITLES)
                url = f"https://docs.{plan.slug}.example/{row[4]}/{row[6].lower()}/{row[0]}"
                added = row[22] or at
                self.buffers["evidence"].append(
                    (self._ids.one("evidence"), _uuid(rng), plan.id, row[0], title, url, None,
                     rng.choice(editors).user_id, added)
                )  # fmt: skip
                evidence[row[6]] = [{"title": title, "url": url}]
        links = _RELEASES["current" if release.pk == self.release.pk else "old"].links
        suggested = 0
        for row in rows:
            offers = []
            for link in links.get(row[6], ()):
                peer = by_code.get(link.other)
                if peer is None:
                    continue
                peer_evidence = evidence.get(peer[6], [])
                if not peer_evidence and peer[15] not in ("met", "partially_met"):
                    continue
                offers.append({"code": peer[6], "finding": str(peer[1]),
                               "relationship": link.relationship, "status": peer[15],
                               "evidence": peer_evidence})  # fmt: skip
            if offers:
                row[20] = _json(offers)
                suggested += 1
        findings = self.tables["finding"]
        for row in rows:
            findings.write(row)
        return suggested

    def _assessment(self, rng, ids, plan, assessment_id, system_id, release, previous_id,
                    answers, system_version, evaluation, summary, at, is_latest, editors,
                    approvers) -> dt.datetime:  # fmt: skip
        requester = rng.choice(editors)
        source = gen._weighted(rng, {"web": 50, "api": 20, "batch": 20, "release": 10})
        engine_ms = evaluation["engine_ms"]
        total_ms = engine_ms + rng.uniform(15, 120)
        dispatched = at + dt.timedelta(milliseconds=rng.uniform(20, 400))
        started = dispatched + dt.timedelta(milliseconds=rng.uniform(50, 2000))
        finished = started + dt.timedelta(milliseconds=total_ms)
        review = gen._weighted(rng, {"draft": 55, "submitted": 15, "approved": 30}
                               if is_latest else {"draft": 30, "approved": 70})  # fmt: skip
        prepared_by = prepared_at = approved_by = approved_at = None
        if review in ("submitted", "approved"):
            preparer = rng.choice(editors)
            prepared_by = preparer.user_id
            prepared_at = min(finished + dt.timedelta(hours=rng.uniform(1, 240)), self.now)
            if review == "approved":
                others = [m for m in approvers if m.user_id != prepared_by]
                if others:
                    approved_by = rng.choice(others).user_id
                    approved_at = min(prepared_at + dt.timedelta(hours=rng.uniform(1, 120)),
                                      self.now)  # fmt: skip
                else:
                    review = "submitted"
        result = evaluation["result"] if is_latest else evaluation["trimmed"]
        self.tables["assessment"].write(
            (assessment_id, _uuid(rng), plan.id, system_id, release.pk, None, previous_id,
             "completed", source, requester.user_id, _json(answers), system_version, result,
             evaluation["eu_tier"], _json(summary), "", 1, at, dispatched, started, finished,
             engine_ms, total_ms, None, review, prepared_by, prepared_at, approved_by,
             approved_at, is_latest)
        )  # fmt: skip
        return finished

    # --- Remediation actions ----------------------------------------------------------------------

    def _actions(self, ids, rng, plan, system_id, owner, latest, run_at) -> list[tuple]:
        """Actions on the latest run's gaps, as many as the organisation's quota leaves for this
        system. Verified actions close their findings (met), as verification does."""
        quota = self.action_quota[plan.id]
        want = quota[0] / max(quota[1], 1)
        count = math.floor(want) + (rng.random() < want % 1)
        quota[1] -= 1
        gaps = [code for code, s in latest.items() if s[0] in GAPS]
        rng.shuffle(gaps)
        count = min(count, len(gaps))
        quota[0] -= count
        if not count:
            return []
        today = self.now.astimezone(zoneinfo.ZoneInfo(plan.time_zone)).date()
        editors = plan.role("admin", "compliance_officer", "contributor")
        approvers = plan.role("admin", "compliance_officer")
        spare = gaps[count:]
        out = []
        for code in gaps[:count]:
            codes = [code]
            manual = rng.random() < 0.2
            if manual:
                while spare and len(codes) < rng.choice((1, 2, 3)):
                    codes.append(spare.pop())
            status = gen._weighted(rng, ACTION_MIX)
            created = min(run_at + dt.timedelta(hours=rng.uniform(0, 72)), self.now)
            updated = _between(rng, created, self.now)
            done_by = done_at = verified_by = verified_at = None
            if status in ("done", "verified"):
                done_by = rng.choice(editors).user_id
                done_at = updated
            if status == "verified":
                checkers = [m for m in approvers if m.user_id != done_by]
                if checkers:
                    verified_by = rng.choice(checkers).user_id
                    verified_at = updated
                else:
                    status = "done"
            before = {}
            if status == "verified":
                for c in codes:
                    before[c] = latest[c][0]
                    latest[c] = ("met", "", None, latest[c][3], verified_by)
            action_owner = (owner.user_id if owner else None) if not manual else (
                rng.choice(editors).user_id if rng.random() < 0.85 else None)  # fmt: skip
            out.append(
                {"id": ids.one("action"), "codes": codes, "before": before, "status": status,
                 "manual": manual, "owner": action_owner, "created": created,
                 "updated": updated, "done_by": done_by, "done_at": done_at,
                 "verified_by": verified_by, "verified_at": verified_at,
                 "creator": rng.choice(editors).user_id if manual else None,
                 "plan": plan, "system": system_id, "today": today,
                 "rng": random.Random(rng.getrandbits(32))}
            )  # fmt: skip
        return out

    def _link_actions(self, actions: list[dict], findings: dict[str, tuple]) -> None:
        """Write the actions and their links, now that the latest findings have ids."""
        from assessments.actions import derive_priority

        for action in actions:
            rng = action["rng"]
            plan = action["plan"]
            first = action["codes"][0]
            release_pk = self.release.pk
            obligation = self.obligations[(release_pk, first)]
            dues = [findings[c][3] for c in action["codes"] if findings[c][3]]
            due = min(dues) if dues else None
            if action["manual"] and rng.random() < 0.3:
                due = action["today"] + dt.timedelta(days=rng.randint(-60, 180))
            # The most urgent that any of its findings gives, as actions.priority_for does.
            priority = min(
                (
                    derive_priority(legal_force=self._forces[code],
                                    penalty_eur=self.obligations[(release_pk, code)][5],
                                    due=due, today=action["today"])
                    for code in action["codes"]
                ),
                key=PRIORITIES.index,
            )  # fmt: skip
            manual_priority = action["manual"] and rng.random() < 0.3
            if manual_priority:
                priority = rng.choice(("critical", "high", "medium", "low"))
            ja = plan.language == "ja"
            if action["manual"]:
                title = f"{rng.choice(ACTION_TITLES)} ({first})"
                description = ""
            else:
                title = f"{first}: {obligation[2] if ja and obligation[2] else obligation[1]}"
                description = obligation[4] if ja and obligation[4] else obligation[3]
            status = action["status"]
            self.buffers["action"].append(
                (action["id"], _uuid(rng), plan.id, action["system"], title[:300], description,
                 action["owner"], due, priority, manual_priority, status,
                 "manual" if action["manual"] else "auto",
                 rng.choice(CANCEL_REASONS) if status == "cancelled" else "",
                 action["creator"], action["created"], action["updated"], action["done_by"],
                 action["done_at"], action["verified_by"], action["verified_at"])
            )  # fmt: skip
            for code in action["codes"]:
                self.buffers["link"].append(
                    (self._ids.one("link"), plan.id, action["id"], findings[code][0],
                     action["before"].get(code, ""))
                )  # fmt: skip

    # --- The whole build --------------------------------------------------------------------------

    def run(self) -> Counter[str]:
        from django.db import connections

        self._forces = {o.code: o.legal_force for o in _RELEASES["current"].obligations}
        connections.close_all()  # nothing of Django's connection crosses the fork
        processes = max(1, min(os.cpu_count() or 1, 4))
        context = multiprocessing.get_context("fork")
        timings: dict[str, float] = {}
        self.say(f"evaluating in {processes} processes, loading with COPY")
        with context.Pool(processes) as pool, ExitStack() as stack:
            main = stack.enter_context(connect(self.url))
            ids = self._ids = Ids(main, self.models)
            plans = self.plan_orgs(ids)
            specs: list[Spec] = []
            for name in ("assessment", "finding"):
                self.tables[name].open(stack, stack.enter_context(connect(self.url)))
            total = sum(plan.systems for plan in plans)
            # The pool's feeder thread draws the answers while the workers evaluate them.
            results = pool.imap(_evaluate, self.specs(plans, specs), chunksize=8)
            stream_started = time.perf_counter()
            sample = []
            for _ in range(min(SAMPLE, plans[0].systems)):
                sample.append(next(results))
            self._history(sample)
            last_report = time.perf_counter()
            for number, current, old in _chain(sample, results):
                if number >= len(sample):  # the sample's counts are in already
                    self._seen(current, old)
                self.system(ids, specs[number], current, old)
                if time.perf_counter() - last_report > 15:
                    last_report = time.perf_counter()
                    self._progress(number + 1, total, stream_started)
            self._progress(total, total, stream_started)
            self.say(
                f"answers: {len(self.answer_sets):,} distinct sets for {total:,} systems "
                f"({self.dropped_answers} drawn sets refused by the questionnaire)"
            )
            stream_seconds = time.perf_counter() - stream_started
            for name in ("assessment", "finding"):
                self.tables[name].seconds = stream_seconds
            for name in ("user", "organisation", "membership", "system", "version", "evidence",
                         "action", "link"):  # fmt: skip
                table = self.tables[name]
                copy_started = time.perf_counter()
                with main.cursor().copy(table.statement()) as copy:
                    for row in self.buffers[name]:
                        copy.write_row(row)
                table.rows = len(self.buffers[name])
                table.seconds = time.perf_counter() - copy_started
                self.buffers[name] = []
            commit_started = time.perf_counter()
        # Leaving the ExitStack ends the COPYs and commits each connection (finding, assessment,
        # then main); an exception rolls every one back.
        timings["commit"] = time.perf_counter() - commit_started
        self.say(f"committed in {timings['commit']:.1f} s")
        for table in self.tables.values():
            rate = table.rows / table.seconds if table.seconds else 0
            self.say(
                f"  {table.model._meta.db_table:32} {table.rows:>10,} rows  "
                f"{table.seconds:7.1f} s  {rate:>10,.0f} rows/s"
            )
        return Counter({name: table.rows for name, table in self.tables.items()})

    def _history(self, sample: list[tuple[int, dict, dict | None]]) -> None:
        """Start the running averages of applicable obligations per run from a sample."""
        for _, current, old in sample:
            self._seen(current, old)
        a_cur, a_old = self._averages()
        per_system = self.scale.findings / max(self.scale.systems, 1)
        self.say(
            f"sample of {len(sample)} systems: {a_cur:.1f} applicable obligations per run on the "
            f"current release, {a_old:.1f} on the older one; about {per_system:.0f} findings "
            f"per system make the large organisation's {self.scale.findings:,}"
        )

    def _seen(self, current: dict, old: dict | None) -> None:
        self.seen["current"][0] += len(current["applicable"])
        self.seen["current"][1] += 1
        if old is not None:
            self.seen["old"][0] += len(old["applicable"])
            self.seen["old"][1] += 1

    def _averages(self) -> tuple[float, float]:
        (cur, n_cur), (old, n_old) = self.seen["current"], self.seen["old"]
        return cur / max(n_cur, 1), old / max(n_old, 1)

    def _runs(self, rng, plan: OrgPlan, current: dict, old: dict | None) -> tuple[bool, int]:
        """Whether the system has a run on the older release, and how many earlier runs on the
        current one, so that the large organisation ends with about scale.findings findings:
        sized from the average run (not this system's), aiming at what is left to write."""
        large = plan.slug == "large"
        if large and self.systems_left > 0:
            per_system = self.findings_left / self.systems_left
        else:
            per_system = self.scale.findings / max(self.scale.systems, 1)
        a_cur, a_old = self._averages()
        need = per_system - a_cur
        has_old = False
        if old is not None and need > 0 and a_old:
            if need >= a_old:
                has_old = True
                need -= a_old
            else:
                has_old = rng.random() < need / a_old
                need = 0.0
        x = max(0.0, need / a_cur) if a_cur else 0.0
        extra = min(math.floor(x) + (rng.random() < x % 1), 6)
        if large:
            written = len(current["applicable"]) * (1 + extra)
            written += len(old["applicable"]) if has_old else 0
            self.findings_left -= written
            self.systems_left -= 1
        self.history["older_release_runs"] += has_old
        self.history["earlier_current_runs"] += extra
        self.history["systems"] += 1
        return has_old, extra

    def _progress(self, done: int, total: int, since: float) -> None:
        import psutil

        seconds = time.perf_counter() - since
        findings = self.tables["finding"].rows
        rss = psutil.Process().memory_info().rss / 1024**2
        self.say(
            f"systems {done:,}/{total:,}: {self.tables['assessment'].rows:,} assessments, "
            f"{findings:,} findings ({findings / seconds if seconds else 0:,.0f} findings/s), "
            f"{seconds:.0f} s, {rss:,.0f} MB resident"
        )


def _chain(first: list, rest: Iterator) -> Iterator:
    yield from first
    yield from rest
