from assessments import services
from assessments.models import Finding
from tests.factories import AISystemFactory


def test_it_smoke(real_catalogue, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        a, _ = services.assessment_start(system=AISystemFactory(organisation=owner.organisation), actor=owner.user)
    a.refresh_from_db()
    print(a.status, a.error, a.eu_tier, Finding.objects.filter(assessment=a).count(), a.summary)
    print(a.result.get("labels"))
    from django.utils import translation
    with translation.override("ja"):
        f = Finding.objects.filter(assessment=a).select_related("obligation__provision").first()
        print(f.obligation.title, f.obligation.provision.reference, f.roles, f.legal_force)
    assert a.status == "completed"
