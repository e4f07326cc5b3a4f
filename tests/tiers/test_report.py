"""The finance contribution report: SPEC §5 columns, filters, sorting, totals, and exports
holding exactly the filtered rows."""

import csv
import datetime
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from tests.factories import CustomerFactory, SalesLineFactory
from tiers.services.export import COLUMNS
from tiers.services.recompute import contribution_recompute

pytestmark = pytest.mark.django_db

AS_OF = datetime.date(2026, 6, 30)
URL = "/reports/contribution/"


@pytest.fixture
def book(rep, outsider, teams):
    """Five customers in two regions; one name that Excel would run as a formula."""
    rows = [
        ("E1", "=HYPERLINK(1)", "华东", rep, "500.00", "100.00"),
        ("E2", "东方机械", "华东", rep, "300.00", "250.00"),
        ("S1", "南方电子", "华南", outsider, "900.00", "200.00"),
        ("S2", "南山材料", "华南", outsider, "50.00", "10.00"),
        ("E3", "东岳化工", "华东", outsider, "80.00", "20.00"),
    ]
    for code, name, region, owner, revenue, cost in rows:
        customer = CustomerFactory(code=code, name=name, region=region, owner=owner)
        for days in (10, 100):  # two buying months: not a one-off buyer
            SalesLineFactory(
                customer=customer,
                revenue=Decimal(revenue) / 2,
                cost=Decimal(cost) / 2,
                order_date=AS_OF - datetime.timedelta(days=days),
            )
    return contribution_recompute(as_of=AS_OF)


def codes(response):
    return [row.customer.code for row in response.context["page"]]


def test_spec_columns_sorting_and_totals(client, finance, book):
    client.force_login(finance)
    response = client.get(URL)
    assert response.status_code == 200
    assert codes(response) == ["S1", "E1", "E3", "E2", "S2"]  # by profit rank
    html = response.content.decode()
    for column in COLUMNS:
        assert f'data-column="{column}"' in html
    totals = response.context["totals"]
    assert totals == {
        "customers": 5,
        "revenue": Decimal("1830.00"),
        "gross_profit": Decimal("1250.00"),
    }
    assert codes(client.get(URL, {"sort": "-revenue"})) == ["S1", "E1", "E2", "E3", "S2"]
    assert codes(client.get(URL, {"sort": "customer_code"})) == ["E1", "E2", "E3", "S1", "S2"]
    # An unknown sort key falls back to the profit rank instead of reaching the database.
    assert codes(client.get(URL, {"sort": "customer__owner__password"}))[0] == "S1"


def test_filters_narrow_rows_and_totals(client, finance, book, outsider):
    client.force_login(finance)
    south = client.get(URL, {"region": "华南"})
    assert codes(south) == ["S1", "S2"]
    assert south.context["totals"]["revenue"] == Decimal("950.00")
    assert codes(client.get(URL, {"region": "华东", "owner": outsider.pk})) == ["E3"]
    assert codes(client.get(URL, {"tier": "A"})) == ["S1", "E1"]


def test_a_rep_sees_only_their_scope(client, rep, book):
    client.force_login(rep)
    response = client.get(URL)
    assert sorted(codes(response)) == ["E1", "E2"]
    assert response.context["totals"]["customers"] == 2
    body = client.get(URL, {"export": "csv"})
    text = b"".join(body.streaming_content).decode("utf-8-sig")
    assert sorted(row["customer_code"] for row in csv.DictReader(io.StringIO(text))) == [
        "E1",
        "E2",
    ]


def test_csv_export_is_exactly_the_filtered_rows(client, finance, book):
    client.force_login(finance)
    response = client.get(URL, {"region": "华东", "sort": "-revenue", "export": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    raw = b"".join(response.streaming_content)
    assert raw.startswith("\ufeff".encode())  # Excel opens the Chinese names right
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == COLUMNS
    assert [r[0] for r in rows[1:]] == ["E1", "E2", "E3"]
    first = dict(zip(COLUMNS, rows[1], strict=True))
    assert first["customer_name"] == "'=HYPERLINK(1)"  # formula-safe
    assert first["revenue"] == "500.00"
    assert first["gross_profit"] == "400.00"
    assert first["margin"] == "0.800000"


def test_xlsx_export_is_exactly_the_filtered_rows(client, finance, book):
    client.force_login(finance)
    response = client.get(URL, {"region": "华南", "export": "xlsx"})
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    values = list(sheet.values)
    assert list(values[0]) == COLUMNS
    assert [row[0] for row in values[1:]] == ["S1", "S2"]
    assert sheet.freeze_panes == "A2"
    assert sheet["F2"].number_format == "#,##0.00"
    assert sheet["H2"].number_format == "0.0000%"
    assert sheet["F2"].value == Decimal("900.00") or sheet["F2"].value == 900


def test_an_older_run_can_be_chosen(client, finance, book):
    contribution_recompute(as_of=AS_OF + datetime.timedelta(days=400))  # nothing in window
    client.force_login(finance)
    current = client.get(URL)
    assert current.context["totals"]["revenue"] == Decimal("0.00")
    older = client.get(URL, {"run": book.run_id if hasattr(book, "run_id") else _run_id(AS_OF)})
    assert older.context["totals"]["revenue"] == Decimal("1830.00")


def _run_id(as_of):
    from tiers.models import ContributionRun

    return ContributionRun.objects.get(as_of=as_of).pk


def test_query_count_does_not_grow(client, finance, book, django_assert_num_queries):
    client.force_login(finance)
    client.get(URL)
    with django_assert_num_queries(13) as captured:
        client.get(URL, {"region": "华东"})
    for i in range(30):
        customer = CustomerFactory(code=f"N{i:02d}", region="华东")
        SalesLineFactory(customer=customer, order_date=AS_OF)
    contribution_recompute(as_of=AS_OF)
    with django_assert_num_queries(len(captured)):
        client.get(URL, {"region": "华东"})
