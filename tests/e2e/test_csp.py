"""The Content Security Policy in a real browser: the pages with charts (and the API docs)
work under it and the browser reports no violation.

Chromium reports each blocked inline script, style or handler twice: as a console error
("… violates the following Content Security Policy directive …") and as a
`securitypolicyviolation` event, which an init script (run by Playwright, outside the page's
policy) turns into a console line. The charts are hovered, so their tooltips are drawn too.
"""

import datetime
from decimal import Decimal

import pytest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from kam.roles import GROUP_KAM_MANAGER, GROUP_SALES_REP
from tests.factories import (
    PASSWORD,
    CustomerFactory,
    SalesLineFactory,
    SalesTeamFactory,
    UserFactory,
)
from tiers.services.recompute import contribution_recompute

pytestmark = pytest.mark.e2e

DESKTOP = {"viewport": {"width": 1280, "height": 900}, "locale": "zh-CN"}
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => console.error(
  "securitypolicyviolation " + e.effectiveDirective + " " + (e.blockedURI || "inline") +
  " at " + e.sourceFile + ":" + e.lineNumber
));
"""


@pytest.fixture
def company(live_server):
    """A manager's team with a small book: a group (parent and subsidiary) and three more."""
    today = timezone.localdate()
    manager = UserFactory(username="manager", groups=[GROUP_KAM_MANAGER])
    rep = UserFactory(username="rep", groups=[GROUP_SALES_REP])
    UserFactory(username="admin", is_superuser=True)
    SalesTeamFactory(name="华东一组", manager=manager, members=[rep])
    parent = CustomerFactory(code="C0001", name="华东精密机械有限公司", owner=rep)
    CustomerFactory(code="C0011", name="华东精密（无锡）有限公司", owner=rep, parent=parent)
    book = [(parent, "900.00", "600.00")] + [
        (CustomerFactory(code=f"C000{n}", owner=rep), f"{n}00.00", f"{n}0.00") for n in (2, 3, 4)
    ]
    for customer, revenue, cost in book:
        for back in (20, 80, 200):
            SalesLineFactory(
                customer=customer,
                revenue=Decimal(revenue),
                cost=Decimal(cost),
                order_date=today - datetime.timedelta(days=back),
            )
    contribution_recompute(as_of=today)
    return parent


@pytest.fixture
def desktop(browser):
    """A desktop page that records every console line and uncaught error."""
    context = browser.new_context(**DESKTOP)
    context.set_default_timeout(10_000)
    context.add_init_script(REPORT_VIOLATIONS)
    page = context.new_page()
    page.messages = []
    page.on("console", lambda message: page.messages.append(message.text))
    page.on("pageerror", lambda error: page.messages.append(f"pageerror {error}"))
    yield page
    context.close()


def violations(page) -> list[str]:
    return [
        text
        for text in page.messages
        if "Content Security Policy" in text
        or "securitypolicyviolation" in text
        or text.startswith("pageerror")
    ]


def sign_in(page, live_server, username: str) -> None:
    page.goto(live_server.url + reverse("login"))
    form = page.locator(f'main form[action="{reverse("login")}"]')
    form.locator('input[name="username"]').fill(username)
    form.locator('input[name="password"]').fill(PASSWORD)
    form.locator('button[type="submit"]').click()
    page.wait_for_url(live_server.url + reverse("home"))


def hover_across(chart) -> None:
    """Move the pointer over the chart so ECharts draws its tooltip (and axis pointer)."""
    chart.scroll_into_view_if_needed()
    box = chart.bounding_box()
    for fraction in (0.3, 0.5, 0.7):
        chart.hover(position={"x": box["width"] * fraction, "y": box["height"] / 2})
        chart.page.wait_for_timeout(200)


def test_dashboard_and_account_page_run_under_the_policy(desktop, live_server, company, artifacts):
    page = desktop
    sign_in(page, live_server, "manager")

    page.goto(live_server.url + reverse("relationships:dashboard"))
    page.locator("#pareto-chart svg").wait_for()
    lengths = page.eval_on_selector_all(
        "#pareto-chart svg path", "els => els.map(e => (e.getAttribute('d') || '').length)"
    )
    assert lengths and max(lengths) > 50, lengths  # the curve is drawn, not an empty svg
    hover_across(page.locator("#pareto-chart"))
    page.screenshot(path=artifacts / "30-csp-dashboard.png", full_page=True)

    page.goto(live_server.url + reverse("customer-detail", args=[company.pk]))
    page.locator("#monthly-chart svg").wait_for()
    hover_across(page.locator("#monthly-chart"))
    # The group tree is indented by CSS from data-depth, not by a style attribute.
    subsidiary = page.locator('.tree li[data-depth="1"]')
    assert subsidiary.count() == 1
    assert subsidiary.evaluate("el => parseFloat(getComputedStyle(el).paddingLeft)") > 0
    page.screenshot(path=artifacts / "31-csp-account.png", full_page=True)

    assert violations(page) == []


def test_the_api_docs_run_under_the_policy(desktop, live_server, company):
    try:
        docs = reverse("api:docs")
    except NoReverseMatch:
        pytest.skip("the API docs are not wired (kam/api_urls.py)")
    page = desktop
    sign_in(page, live_server, "admin")
    page.goto(live_server.url + docs)
    page.locator("#swagger-ui .opblock").first.wait_for()  # Swagger UI loaded the schema
    page.locator("#swagger-ui .opblock-summary").first.click()
    page.locator("#swagger-ui .opblock-body").first.wait_for()
    assert violations(page) == []
