from pathlib import Path

from django.conf import settings

from governance.lint import check, check_source, is_checked_module, tenant_model_names


def test_it_knows_the_tenant_models():
    names = tenant_model_names()
    assert {"Organisation", "Membership", "Invitation"} <= names
    assert "User" not in names


def test_it_flags_a_direct_tenant_query_in_a_view(tmp_path):
    views = tmp_path / "app" / "views"
    views.mkdir(parents=True)
    (views / "things.py").write_text(
        "def show(request, code):\n"
        "    return Membership.objects.get(code=code)\n"
        "def fine(request):\n"
        "    return User.objects.count()\n"
    )
    violations = check([tmp_path / "app"])
    assert [(v.line, v.model) for v in violations] == [(2, "Membership")]
    assert "governance.access" in str(violations[0])


def test_it_checks_only_views_and_api_modules():
    assert is_checked_module(Path("views.py"))
    assert is_checked_module(Path("views/orgs.py"))
    assert is_checked_module(Path("api/systems.py"))
    assert not is_checked_module(Path("services.py"))
    assert not is_checked_module(Path("selectors.py"))
    source = "Invitation._default_manager.all()"
    assert check_source(source, Path("x.py"), {"Invitation"})


def test_the_code_base_passes():
    base = Path(settings.BASE_DIR)
    assert check([base / "config", base / "governance", base / "assessments"]) == []
