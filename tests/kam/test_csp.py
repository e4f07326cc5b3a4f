"""Content Security Policy: only files KAM serves run or style a page; nothing inline.

The header carries exactly the site's policy on every kind of page. Every screen a signed-in
user can open, and every admin page, is free of what that policy would block: inline
scripts (json_script data blocks are fine: they never run), event-handler attributes,
`javascript:` URLs, style attributes and <style> elements. A page that broke this would
lose that feature in the browser, silently; the real-browser check is tests/e2e/test_csp.py.
"""

import datetime
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from tests.factories import PASSWORD, CustomerFactory, ReceivableFactory
from tests.relationships.factories import (
    AccountPlanFactory,
    FollowUpFactory,
    PlanActionFactory,
    PlanObjectiveFactory,
    VisitFactory,
    publish_tiers,
)

POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
}


def directives(header: str) -> dict[str, list[str]]:
    """'a x y; b z' -> {'a': ['x', 'y'], 'b': ['z']}"""
    parsed = {}
    for part in header.split(";"):
        name, *values = part.split()
        assert name not in parsed, f"{name} twice in {header!r}"
        parsed[name] = values
    return parsed


class InlineCode(HTMLParser):
    """Collects everything in a page that a CSP without 'unsafe-inline' would block."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        inline = tag == "script" and "src" not in attributes
        if inline and attributes.get("type") != "application/json":
            self.found.append(f"inline <script {attrs}>")
        if tag == "style":
            self.found.append("<style> element")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}={value!r}>")
            if name == "style":
                self.found.append(f"<{tag} style={value!r}>")
            if value and value.strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value!r}>")

    handle_startendtag = handle_starttag


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    parser.close()
    return parser.found


def test_the_checker_finds_what_the_policy_blocks():
    page = """
      <script type="application/json" id="d">{"a": 1}</script>
      <script src="/static/js/x.js"></script>
      <script>alert(1)</script>
      <a href="javascript:void(0)">x</a>
      <button onclick="go()">go</button>
      <li style="--depth: 1">x</li>
      <style>p { color: red }</style>
      <p>on the onset=1 of a day</p>
    """
    assert len(inline_code(page)) == 5


# --- the header ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["login", "home", "relationships:dashboard", "admin:index"])
def test_every_page_carries_exactly_the_policy(client, admin_user, name):
    if name != "login":
        client.force_login(admin_user)
    response = client.get(reverse(name))
    assert response.status_code == 200
    assert directives(response["Content-Security-Policy"]) == POLICY


def test_script_src_allows_no_inline_code_and_no_eval(client):
    script_src = directives(client.get(reverse("login"))["Content-Security-Policy"])["script-src"]
    assert "'unsafe-inline'" not in script_src
    assert "'unsafe-eval'" not in script_src
    assert "'unsafe-hashes'" not in script_src


def test_the_lockout_page_carries_the_policy_too(client, rep):
    for _ in range(5):
        response = client.post(reverse("login"), {"username": "rep", "password": "wrong"})
    assert response.status_code == 429
    assert directives(response["Content-Security-Policy"]) == POLICY
    assert inline_code(response.content.decode()) == []


def test_the_api_docs_need_no_exception(client, admin_user):
    """Swagger UI's start-up script is a file (the split view) and its page style is in
    static/css/swagger.css (templates/drf_spectacular/), so /api/docs/ runs under the site's
    policy unchanged."""
    try:
        url = reverse("api:docs")
    except NoReverseMatch:
        pytest.skip("the API docs are not wired (kam/api_urls.py)")
    client.force_login(admin_user)
    response = client.get(url)
    assert response.status_code == 200
    assert directives(response["Content-Security-Policy"]) == POLICY
    assert inline_code(response.content.decode()) == []
    script = client.get(url, {"script": ""})
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")


# --- every page renders without inline code ----------------------------------------------


@pytest.fixture
def book(rep, teams, rep_customer, rep_contact, admin_user, manager, finance):
    """One account with something on every screen: tiers, a visit, a follow-up, a plan with
    an objective and an action, a receivable, and a group member (the hierarchy tree)."""
    today = timezone.localdate()
    CustomerFactory(code="R002", name="Rep Subsidiary Co", owner=rep, parent=rep_customer)
    publish_tiers(as_of=today, a=[rep_customer])
    ReceivableFactory(customer=rep_customer)
    visit = VisitFactory(
        customer=rep_customer, author=rep, visit_date=today, contacts=[rep_contact]
    )
    follow_up = FollowUpFactory(customer=rep_customer, owner=rep, due_date=today)
    plan = AccountPlanFactory(customer=rep_customer, year=today.year)
    PlanObjectiveFactory(plan=plan)
    action = PlanActionFactory(plan=plan, owner=rep, due_date=today + datetime.timedelta(days=9))
    return {
        "customer": rep_customer,
        "unit": rep_contact.buying_unit,
        "contact": rep_contact,
        "visit": visit,
        "follow_up": follow_up,
        "plan": plan,
        "action": action,
        "users": {"admin": admin_user, "manager": manager, "rep": rep, "finance": finance},
    }


# Every named screen: (URL name, the objects its arguments come from, who opens it).
# The admin opens what an admin can; the pages only a rep or a manager works with are
# opened by them. test_every_named_screen_is_in_the_table keeps this list complete.
SCREENS = [
    ("home", {}, "admin"),
    ("home", {}, "manager"),
    ("home", {}, "rep"),
    ("home", {}, "finance"),
    ("customer-list", {}, "admin"),
    ("customer-detail", {"pk": "customer"}, "admin"),
    ("contribution-report", {}, "admin"),
    ("accounts:imports", {}, "admin"),
    ("relationships:unit-create", {"customer_pk": "customer"}, "admin"),
    ("relationships:unit-edit", {"pk": "unit"}, "admin"),
    ("relationships:contact-create", {"customer_pk": "customer"}, "admin"),
    ("relationships:contact-edit", {"pk": "contact"}, "admin"),
    ("relationships:visit-list", {}, "admin"),
    ("relationships:visit-create", {}, "rep"),
    ("relationships:visit-detail", {"pk": "visit"}, "admin"),
    ("relationships:visit-edit", {"pk": "visit"}, "rep"),
    ("relationships:my-day", {}, "rep"),
    ("relationships:follow-up-create", {"customer_pk": "customer"}, "admin"),
    ("relationships:follow-up-snooze", {"pk": "follow_up"}, "rep"),
    ("relationships:follow-up-reassign", {"pk": "follow_up"}, "manager"),
    # With this year's plan in place the page redirects to it unless asked for a new one.
    ("relationships:plan-for-customer", {"customer_pk": "customer", "?": "new"}, "admin"),
    ("relationships:plan-detail", {"pk": "plan"}, "admin"),
    ("relationships:plan-edit", {"pk": "plan"}, "admin"),
    ("relationships:action-edit", {"pk": "action"}, "admin"),
    ("relationships:reassign", {}, "manager"),
    ("relationships:attention", {}, "admin"),
    ("relationships:dashboard", {}, "admin"),
    ("relationships:referrals", {}, "admin"),
]
# Named URLs that are no screen: POST-only actions and the plain-text health check.
NOT_SCREENS = {"logout", "set_language", "healthz", "relationships:follow-up-complete"}
# Checked elsewhere in this file: the sign-in page (signed out) and the admin's pages.
ELSEWHERE = {"login"}


def _named_urls(resolvers, namespace=""):
    for entry in resolvers:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _named_urls(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            yield namespace + entry.name


def test_every_named_screen_is_in_the_table():
    names = {
        name
        for name in _named_urls(get_resolver().url_patterns)
        # The admin's pages are walked model by model below; the API answers JSON, and its
        # one HTML page has its own test above.
        if not name.startswith(("admin:", "api:"))
    }
    assert names == {name for name, _, _ in SCREENS} | NOT_SCREENS | ELSEWHERE


@pytest.mark.parametrize(
    ("name", "arguments", "who"), SCREENS, ids=[f"{n}-{w}" for n, _, w in SCREENS]
)
def test_screens_have_no_inline_code(client, book, name, arguments, who):
    arguments = dict(arguments)
    client.force_login(book["users"][who])
    query = arguments.pop("?", None)
    url = reverse(name, kwargs={key: book[source].pk for key, source in arguments.items()})
    url += f"?{query}" if query else ""
    response = client.get(url)
    assert response.status_code == 200, url
    assert response["Content-Type"].startswith("text/html")
    assert inline_code(response.content.decode()) == [], url


def test_the_sign_in_page_and_its_error_have_no_inline_code(client, rep):
    assert inline_code(client.get(reverse("login")).content.decode()) == []
    wrong = client.post(reverse("login"), {"username": "rep", "password": "wrong"})
    assert inline_code(wrong.content.decode()) == []
    right = client.post(reverse("login"), {"username": "rep", "password": PASSWORD}, follow=True)
    assert right.redirect_chain and inline_code(right.content.decode()) == []


def _admin_pages(user) -> list[str]:
    """Every admin page an admin opens: the index, each app, and for each model its list,
    its add form, and (on one row) its change form, history and delete confirmation."""
    request = RequestFactory().get("/admin/")
    request.user = user
    pages = [reverse("admin:index"), reverse("admin:password_change")]
    for app_label in {model._meta.app_label for model in admin.site._registry}:
        pages.append(reverse("admin:app_list", kwargs={"app_label": app_label}))
    for model, model_admin in admin.site._registry.items():
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        pages.append(reverse(f"{prefix}_changelist"))
        if model_admin.has_add_permission(request):
            pages.append(reverse(f"{prefix}_add"))
        row = model_admin.get_queryset(request).first()
        if row is not None:
            pages.append(reverse(f"{prefix}_change", args=[row.pk]))
            pages.append(reverse(f"{prefix}_history", args=[row.pk]))
            if model_admin.has_delete_permission(request, row):
                pages.append(reverse(f"{prefix}_delete", args=[row.pk]))
    return pages


def test_the_admin_has_no_inline_code(client, book):
    admin_user = book["users"]["admin"]
    client.force_login(admin_user)
    pages = _admin_pages(admin_user)
    assert len(pages) > 60  # every model's pages, not just the index
    problems = {}
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        if found := inline_code(response.content.decode()):
            problems[url] = found
    assert problems == {}


def test_the_admin_sign_in_page_has_no_inline_code(client):
    response = client.get(reverse("admin:login"))
    assert response.status_code == 200
    assert inline_code(response.content.decode()) == []
