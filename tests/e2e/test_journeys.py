"""The manager's and finance's journeys in a real browser (desktop size), and the zh-hans check.

2. A manager opens the dashboard; the Pareto chart renders (an svg with a drawn curve); they
   open a fake big customer and read the reason.
3. Finance filters the report by region and downloads XLSX; the file opens with openpyxl and
   has the SPEC columns and only that region's rows.
4. In zh-hans, the navigation and the dashboard contain no untranslated English.
Screenshots go to test-artifacts/e2e/.
"""

import datetime
import io
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from kam.roles import GROUP_FINANCE, GROUP_KAM_MANAGER, GROUP_SALES_REP
from tests.factories import (
    PASSWORD,
    CustomerFactory,
    SalesLineFactory,
    SalesTeamFactory,
    UserFactory,
)
from tiers.services.export import COLUMNS
from tiers.services.recompute import contribution_recompute

pytestmark = pytest.mark.e2e

DESKTOP = {"viewport": {"width": 1280, "height": 900}, "locale": "zh-CN"}


@pytest.fixture
def company(live_server):
    """A team of one rep under a manager, finance, and a book with a one-off buyer."""
    today = timezone.localdate()
    manager = UserFactory(
        username="manager", first_name="静", last_name="陈", groups=[GROUP_KAM_MANAGER]
    )
    rep = UserFactory(username="rep", first_name="伟", last_name="张", groups=[GROUP_SALES_REP])
    UserFactory(username="finance", first_name="丽", last_name="孙", groups=[GROUP_FINANCE])
    SalesTeamFactory(name="华东一组", manager=manager, members=[rep])
    book = [
        ("C0001", "华东精密机械有限公司", "华东", ("900.00", "600.00"), (20, 100, 200)),
        ("C0002", "苏州电子材料有限公司", "华东", ("300.00", "150.00"), (30, 130)),
        ("C0003", "深圳智能装备有限公司", "华南", ("500.00", "300.00"), (40, 140)),
        ("C0004", "广州新材料有限公司", "华南", ("100.00", "80.00"), (50, 150)),
        # One big order in a single month: the one_off rule says it is not a key account.
        ("C0009", "华信团购贸易有限公司", "华东", ("5000.00", "3000.00"), (10,)),
    ]
    for code, name, region, (revenue, cost), days in book:
        customer = CustomerFactory(code=code, name=name, region=region, owner=rep)
        for back in days:
            SalesLineFactory(
                customer=customer,
                revenue=Decimal(revenue) / len(days),
                cost=Decimal(cost) / len(days),
                order_date=today - datetime.timedelta(days=back),
            )
    contribution_recompute(as_of=today)
    return today


@pytest.fixture
def desktop(browser):
    context = browser.new_context(**DESKTOP, accept_downloads=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def sign_in(page, live_server, username: str) -> None:
    page.goto(live_server.url + reverse("login"))
    form = page.locator(f'main form[action="{reverse("login")}"]')
    form.locator('input[name="username"]').fill(username)
    form.locator('input[name="password"]').fill(PASSWORD)
    form.locator('button[type="submit"]').click()
    page.wait_for_url(live_server.url + reverse("home"))


def test_manager_reads_the_pareto_chart_and_why_a_big_customer_is_not_key(
    desktop, live_server, company, artifacts
):
    page = desktop
    sign_in(page, live_server, "manager")
    page.goto(live_server.url + reverse("relationships:dashboard"))
    chart = page.locator("#pareto-chart svg")
    chart.wait_for()
    # ECharts drew the curve: an svg path with many points, and the 80 % line.
    paths = page.eval_on_selector_all(
        "#pareto-chart svg path", "els => els.map(e => (e.getAttribute('d') || '').length)"
    )
    assert max(paths) > 50, paths
    page.screenshot(path=artifacts / "10-dashboard.png", full_page=True)

    row = page.locator('tr[data-fake-big="C0009"]')
    assert row.count() == 1
    reason_on_dashboard = row.locator("td").nth(4).inner_text().strip()
    assert reason_on_dashboard
    row.locator("a").first.click()
    page.wait_for_url(re.compile(r"/customers/\d+/$"))
    assert page.locator('[data-excluded="1"]').count() == 1
    reasons = page.locator("#contribution ul.reasons li").all_inner_texts()
    assert reason_on_dashboard in reasons
    assert any(re.search(r"\d", text) for text in reasons)  # "… 1 … 24 …": figures in words
    page.screenshot(path=artifacts / "11-fake-big-customer.png", full_page=True)


def test_finance_filters_by_region_and_downloads_xlsx(desktop, live_server, company, artifacts):
    page = desktop
    sign_in(page, live_server, "finance")
    page.goto(live_server.url + reverse("contribution-report"))
    form = page.locator("#report-filters")
    form.locator('select[name="region"]').select_option("华南")
    form.locator('button[type="submit"]').click()
    page.wait_for_url(re.compile(r"region="))
    shown = page.locator("#report tbody tr[data-code]").evaluate_all(
        "rows => rows.map(r => r.dataset.code)"
    )
    assert sorted(shown) == ["C0003", "C0004"]
    page.screenshot(path=artifacts / "12-report-south.png", full_page=True)

    with page.expect_download() as download_info:
        page.locator("#export-xlsx").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    path = artifacts / "12-report-south.xlsx"
    download.save_as(path)
    sheet = load_workbook(io.BytesIO(path.read_bytes()), read_only=True).active
    rows = list(sheet.values)
    assert list(rows[0]) == COLUMNS
    region = COLUMNS.index("region")
    assert sorted(row[0] for row in rows[1:]) == ["C0003", "C0004"]
    assert {row[region] for row in rows[1:]} == {"华南"}


# Words allowed in a zh-hans page: the product's name, the currency, and the language
# switch's "English" (shown in its own language on purpose).
ALLOWED = {"KAM", "CNY", "English"}


def english_words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z][A-Za-z'\-]{2,}", text)) - ALLOWED


def test_zh_hans_navigation_and_dashboard_have_no_english(desktop, live_server, company, artifacts):
    page = desktop
    sign_in(page, live_server, "manager")
    page.goto(live_server.url + reverse("relationships:dashboard"))
    page.locator("#pareto-chart svg").wait_for()
    assert page.evaluate("document.documentElement.lang") == "zh-hans"
    navigation = page.locator("header.topbar").inner_text()
    main = page.locator("main").inner_text()
    assert english_words(navigation) == set(), navigation
    assert english_words(main) == set(), main
    # The chart's own labels (axis names, the 80 % line) are translated too.
    chart_text = " ".join(
        page.locator("#pareto-chart svg text").evaluate_all("els => els.map(e => e.textContent)")
    )
    assert "%" in chart_text  # the axis labels were drawn
    assert english_words(chart_text) == set(), chart_text
    page.screenshot(path=artifacts / "13-dashboard-zh.png", full_page=True)
