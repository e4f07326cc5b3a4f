"""A rep on a phone (375×812): sign in, see the day, log a visit with two contacts and a next
date, find the new follow-up.

Elements are found by hrefs, ids, data-* attributes and input names, never by their text: the
pages are in the default zh-hans UI (the browser asks for zh-CN), as our reps see them.
Every step leaves a full-page screenshot in test-artifacts/e2e/.
"""

import datetime
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Contact
from kam.roles import GROUP_SALES_REP
from relationships import services
from relationships.models import FollowUp, Visit
from tests.factories import (
    PASSWORD,
    BuyingUnitFactory,
    ContactFactory,
    CustomerFactory,
    UserFactory,
)

pytestmark = pytest.mark.e2e

THUMB = 44  # px: the smallest target a thumb hits reliably (Apple HIG, WCAG 2.5.5)

OVERFLOW_JS = """() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
})"""


# --- data: a rep's account with three active contacts and an overdue follow-up ---------------


@pytest.fixture
def account(live_server):
    """The rep owns one customer: 3 active contacts in 2 buying units, 1 open overdue follow-up.

    `live_server` first, so the data is committed (transactional_db) where the server sees it.
    """
    today = timezone.localdate()
    rep = UserFactory(username="rep", first_name="伟", last_name="张", groups=[GROUP_SALES_REP])
    customer = CustomerFactory(code="E2E01", name="华东精密机械有限公司", owner=rep)
    purchasing = BuyingUnitFactory(customer=customer, name="采购部")
    engineering = BuyingUnitFactory(customer=customer, name="技术部")
    buyer = ContactFactory(buying_unit=purchasing, name="王采购", role=Contact.Role.BUYER)
    clerk = ContactFactory(buying_unit=purchasing, name="陈助理", role=Contact.Role.USER)
    engineer = ContactFactory(buying_unit=engineering, name="李总工", role=Contact.Role.INFLUENCER)
    overdue = FollowUp.objects.create(
        customer=customer,
        owner=rep,
        kind=FollowUp.Kind.MANUAL,
        due_date=today - datetime.timedelta(days=3),
        note="催报价单",
    )
    return SimpleNamespace(
        today=today,
        rep=rep,
        customer=customer,
        buyer=buyer,
        clerk=clerk,
        engineer=engineer,
        overdue=overdue,
    )


# --- helpers ----------------------------------------------------------------------------------


def url(live_server, name: str, *args) -> str:
    return live_server.url + reverse(name, args=args)


def shoot(page, artifacts, name: str) -> None:
    page.screenshot(path=artifacts / f"{name}.png", full_page=True)


def sign_in(page, live_server, artifacts=None) -> None:
    """Through the real /login/ form, as the rep."""
    page.goto(url(live_server, "login"))
    login = page.locator(f'main form[action="{reverse("login")}"]')
    login.locator('input[name="username"]').fill("rep")
    login.locator('input[name="password"]').fill(PASSWORD)
    if artifacts:
        shoot(page, artifacts, "01-login")
    login.locator('button[type="submit"]').tap()
    page.wait_for_url(url(live_server, "home"))


def overflow(page) -> dict:
    return page.evaluate(OVERFLOW_JS)


def assert_fits_375(page) -> None:
    measured = overflow(page)
    assert measured["innerWidth"] == 375, measured
    assert measured["scrollWidth"] <= measured["innerWidth"], (
        f"{page.url} scrolls sideways at 375 px: {measured}"
    )


def assert_styled(page) -> None:
    """kam.css loaded: without it every layout check below would be meaningless."""
    rules = page.evaluate(
        "() => [...document.styleSheets].reduce((n, s) => n + s.cssRules.length, 0)"
    )
    assert rules > 50, f"{page.url}: kam.css did not load ({rules} rules)"


def my_day_lists(page):
    """The three lists of "my day", in order: overdue, due today, next 7 days (by position
    under their <h3>s, not by the headings' words)."""
    lists = page.locator("#my-day > ul.follow-ups")
    assert lists.count() == 3
    return lists.nth(0), lists.nth(1), lists.nth(2)


# --- the journey ------------------------------------------------------------------------------


def test_rep_logs_a_visit_on_a_phone(live_server, account, phone, artifacts):
    page = phone
    next_date = account.today + datetime.timedelta(days=5)
    purpose = "新品试样反馈"

    # 1. Sign in through the real form; land on home, which is "my day" for a rep.
    sign_in(page, live_server, artifacts)
    assert_styled(page)
    assert page.locator("body").get_attribute("data-role") == "rep"
    overdue, due_today, upcoming = my_day_lists(page)
    row = overdue.locator(f'li.follow-up.overdue[data-follow-up="{account.overdue.pk}"]')
    assert row.is_visible()
    assert account.overdue.note in row.inner_text()
    assert account.overdue.due_date.isoformat() in row.inner_text()
    assert due_today.locator("li[data-follow-up]").count() == 0
    assert upcoming.locator("li[data-follow-up]").count() == 0
    shoot(page, artifacts, "02-home-my-day")

    # 2. Tap "log a visit" on my day; pick the customer.
    page.locator(f'#my-day a.button[href="{reverse("relationships:visit-create")}"]').tap()
    chooser = page.locator('main form[method="get"]')
    chooser.locator('select[name="customer"]').select_option(str(account.customer.pk))
    shoot(page, artifacts, "03-visit-choose-customer")
    chooser.locator('button[type="submit"]').tap()
    page.wait_for_url(f"**{reverse('relationships:visit-create')}?customer={account.customer.pk}")

    # 3. The visit form lists the account's three active contacts; tick two in two units.
    form = page.locator("section.visit-form form")
    boxes = form.locator('input[type="checkbox"][name="contacts"]')
    assert sorted(boxes.evaluate_all("els => els.map(e => +e.value)")) == sorted(
        [account.buyer.pk, account.clerk.pk, account.engineer.pk]
    )
    assert form.locator('input[name="visit_date"]').input_value() == account.today.isoformat()
    shoot(page, artifacts, "04-visit-form-empty")
    form.locator(f'input[name="contacts"][value="{account.buyer.pk}"]').check()
    form.locator(f'input[name="contacts"][value="{account.engineer.pk}"]').check()
    form.locator('input[name="purpose"]').fill(purpose)
    form.locator('input[name="next_follow_up"]').fill(next_date.isoformat())
    shoot(page, artifacts, "05-visit-form-filled")
    form.locator('button[type="submit"]').tap()

    # 4. The account page's timeline shows the visit and whom the rep met.
    page.wait_for_url(f"**{account.customer.get_absolute_url()}")
    # The confirmation is on screen, not scrolled away above the timeline.
    confirmation = page.locator("ul.messages li.success").first.bounding_box()
    assert confirmation is not None and confirmation["y"] < 812
    visit = Visit.objects.get(customer=account.customer)
    entry = page.locator("#visits ol.timeline > li").filter(
        has=page.locator(f'a[href="{reverse("relationships:visit-detail", args=[visit.pk])}"]')
    )
    assert entry.count() == 1
    text = entry.inner_text()
    assert purpose in text
    assert account.today.isoformat() in text
    assert account.buyer.name in text
    assert account.engineer.name in text
    assert account.clerk.name not in text
    shoot(page, artifacts, "06-account-visit-logged")

    # 5. /followups/: the new follow-up is under "next 7 days"; the overdue one is still open.
    page.goto(url(live_server, "relationships:my-day"))
    follow_up = FollowUp.objects.get(source_visit=visit)
    overdue, due_today, upcoming = my_day_lists(page)
    new_row = upcoming.locator(f'li.follow-up[data-follow-up="{follow_up.pk}"]')
    assert new_row.is_visible()
    assert next_date.isoformat() in new_row.inner_text()
    assert purpose in new_row.inner_text()
    assert overdue.locator(f'li[data-follow-up="{account.overdue.pk}"]').count() == 1
    assert due_today.locator("li[data-follow-up]").count() == 0
    shoot(page, artifacts, "07-followups")

    # 6. The database agrees.
    assert set(visit.contacts.values_list("pk", flat=True)) == {
        account.buyer.pk,
        account.engineer.pk,
    }
    assert (visit.author, visit.visit_date, visit.purpose) == (account.rep, account.today, purpose)
    assert (follow_up.customer, follow_up.owner, follow_up.due_date, follow_up.status) == (
        account.customer,
        account.rep,
        next_date,
        FollowUp.Status.OPEN,
    )
    assert follow_up.kind == FollowUp.Kind.NEXT_STEP
    assert FollowUp.objects.filter(status=FollowUp.Status.OPEN).count() == 2


# --- the phone layout -------------------------------------------------------------------------


@pytest.fixture
def logged_visit(account):
    """A visit with two contacts and a next date, logged through the app's own service, so
    the account page is measured with a filled timeline and an open follow-up."""
    return services.visit_log(
        user=account.rep,
        customer=account.customer,
        visit_date=account.today,
        channel=Visit.Channel.ONSITE,
        purpose="新品试样反馈",
        contacts=[account.buyer, account.engineer],
        next_follow_up=account.today + datetime.timedelta(days=5),
    )


PAGES = {
    "home": lambda account: reverse("home"),
    "visit-form": lambda account: (
        f"{reverse('relationships:visit-create')}?customer={account.customer.pk}"
    ),
    "account": lambda account: account.customer.get_absolute_url(),
}


@pytest.mark.parametrize("name", PAGES)
def test_no_horizontal_overflow_at_375px(live_server, account, logged_visit, phone, name):
    sign_in(phone, live_server)
    phone.goto(live_server.url + PAGES[name](account))
    assert_styled(phone)
    assert_fits_375(phone)


def test_visit_form_submit_button_is_thumb_sized(live_server, account, phone):
    sign_in(phone, live_server)
    phone.goto(live_server.url + PAGES["visit-form"](account))
    assert_styled(phone)
    button = phone.locator('section.visit-form form button[type="submit"]')
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    assert box is not None
    assert box["height"] >= THUMB, f"submit button is {box['height']} px tall"
    assert box["x"] >= 0 and box["x"] + box["width"] <= 375, box
