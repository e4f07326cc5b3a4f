"""The file examples in README.md import as documented."""

import re
from pathlib import Path

import pytest

from accounts.importing.service import import_data
from accounts.models import Contact, Customer, Receivable, SalesLine
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

README = Path(__file__).resolve().parents[2] / "README.md"


def test_each_readme_example_imports(tmp_path):
    UserFactory(username="rep1")
    blocks = re.findall(r"```csv\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 4
    for kind, block in zip(["customers", "contacts", "sales", "payments"], blocks, strict=True):
        path = tmp_path / f"{kind}.csv"
        path.write_text(block, encoding="utf-8")
        report = import_data(kind=kind, path=str(path))
        assert report.accepted, report.problems
    assert Customer.objects.get(code="C0101").parent.code == "C0100"
    assert Contact.objects.get(name="王建国").role == "decision_maker"
    assert str(SalesLine.objects.get(order_ref="SO-2026-0001", line_no=1).revenue) == "36000.00"
    assert Receivable.objects.get(invoice_ref="INV-2026-0002").paid_date is None
