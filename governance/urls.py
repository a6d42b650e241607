from django.contrib.auth import views as auth_views
from django.urls import include, path

from .security import views as security
from .views import accounts, apikeys, audit, catalogue, members, orgs, systems

account_patterns = [
    path("login/", security.LoginView.as_view(), name="login"),
    path("login/code/", security.login_code, name="login_code"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path(
        "password/reset/",
        security.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("profile/", accounts.profile, name="profile"),
    path("security/mfa/setup/", security.mfa_setup, name="mfa_setup"),
    path("security/mfa/disable/", security.mfa_disable, name="mfa_disable"),
    path("security/mfa/recovery-codes/", security.mfa_recovery_codes, name="mfa_recovery_codes"),
    path("language/", accounts.set_language, name="set_language"),
]

org_patterns = [
    path("", orgs.org_dashboard, name="org_dashboard"),
    path("settings/", orgs.org_settings, name="org_settings"),
    path("settings/api-keys/", apikeys.api_key_list, name="api_key_list"),
    path(
        "settings/api-keys/<uuid:key_code>/revoke/",
        apikeys.api_key_revoke,
        name="api_key_revoke",
    ),
    path("members/", members.member_list, name="member_list"),
    path("members/<uuid:member_code>/role/", members.member_role, name="member_role"),
    path("members/<uuid:member_code>/remove/", members.member_remove, name="member_remove"),
    path(
        "invitations/<uuid:invitation_code>/revoke/",
        members.invitation_revoke,
        name="invitation_revoke",
    ),
    path("audit/", audit.audit_log, name="audit_log"),
    path("systems/", systems.system_list, name="system_list"),
    path("systems/new/", systems.system_create, name="system_create"),
    path("systems/export/", systems.system_export, name="system_export"),
    path("systems/<uuid:system_code>/", systems.system_detail, name="system_detail"),
    path("systems/<uuid:system_code>/edit/", systems.system_edit, name="system_edit"),
    path("systems/<uuid:system_code>/history/", systems.system_history, name="system_history"),
    path("systems/<uuid:system_code>/archive/", systems.system_archive, name="system_archive"),
    path("systems/<uuid:system_code>/restore/", systems.system_restore, name="system_restore"),
]

catalogue_patterns = [
    path("", catalogue.catalogue_index, name="catalogue_index"),
    path("regulations/<slug:code>/", catalogue.regulation_detail, name="catalogue_regulation"),
    path("obligations/", catalogue.obligation_list, name="catalogue_obligations"),
    path("obligations/<slug:code>/", catalogue.obligation_detail, name="catalogue_obligation"),
    path("crosswalk/", catalogue.crosswalk, name="catalogue_crosswalk"),
    path("timeline/", catalogue.timeline, name="catalogue_timeline"),
]

urlpatterns = [
    path("", orgs.home, name="home"),
    path("accounts/", include(account_patterns)),
    path("invitations/<str:token>/", accounts.invitation_accept, name="invitation_accept"),
    path("orgs/", orgs.org_list, name="org_list"),
    path("orgs/new/", orgs.org_create, name="org_create"),
    path("o/<uuid:org_code>/", include(org_patterns)),
    path("catalogue/", include(catalogue_patterns)),
]
