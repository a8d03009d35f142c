from django.http import HttpRequest

from labeling.selectors import roles_for_user


def navigation(request: HttpRequest) -> dict:
    """The roles that decide which links the top bar shows."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_roles": set()}
    return {"nav_roles": roles_for_user(user=user)}
