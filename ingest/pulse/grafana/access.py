"""``grafana.ini``: SSO (generic OAuth2/OIDC and JWT) mapping IdP groups to one organization per data source.

The mapping itself (``org_mapping``, ``role_attribute_path``) comes from the access definition
(:mod:`pulse.access.orgs`). Each section is a plain dict, so a setting is one line here (e.g.
``"log": {"router_logging": True}``); ``pulse grafana generate`` writes them in this order.
"""

from __future__ import annotations

from typing import Any

from pulse.access.orgs import Organization, login_settings


def grafana_ini(orgs: list[Organization]) -> dict[str, dict[str, Any]]:
    """The ``grafana.ini`` sections; secrets and deployment URLs are ``${VAR}``, expanded by Grafana."""
    login = login_settings(orgs)
    return {
        # The audit's Grafana half (OSS has no audit log): every HTTP request, every plugin query with its user.
        "server": {"root_url": "${PULSE_GRAFANA_ROOT_URL}", "router_logging": True},
        "plugins": {"log_backend_requests": True},
        "auth": {"disable_login_form": True, "oauth_auto_login": True, "oauth_allow_insecure_email_lookup": False},
        "auth.basic": {"enabled": False},
        "auth.anonymous": {"enabled": False},
        # No organization but the mapped ones: nobody joins organization 1 (all data) by signing up.
        "users": {"allow_sign_up": False, "auto_assign_org": False, "auto_assign_org_role": "Viewer"},
        "auth.generic_oauth": {
            "enabled": True,
            "name": "Pulse SSO",
            "allow_sign_up": True,
            "auto_login": True,
            "client_id": "${GF_AUTH_GENERIC_OAUTH_CLIENT_ID}",
            "client_secret": "${GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET}",
            "scopes": "openid profile email groups",
            "auth_url": "${PULSE_OIDC_ISSUER}/authorize",
            "token_url": "${PULSE_OIDC_ISSUER}/token",
            "api_url": "${PULSE_OIDC_ISSUER}/userinfo",
            "use_pkce": True,
            "use_refresh_token": True,
            **login,
        },
        "auth.jwt": {
            "enabled": True,
            "header_name": "X-JWT-Assertion",
            "username_claim": "sub",
            "email_claim": "email",
            "jwk_set_url": "${PULSE_OIDC_ISSUER}/jwks",
            "auto_sign_up": True,
            **login,
        },
    }
