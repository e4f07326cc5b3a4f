"""The /imports/ page: finance and admins upload files and see the result and the history."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from accounts.models import Customer, ImportRun

pytestmark = pytest.mark.django_db

URL = reverse("accounts:imports")
GOOD = "code,name,region\nU1,上传公司,华东\nU2,第二公司,华南\n".encode()
BAD = b"code,name,colour\nU1,Uploaded,red\n"


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def upload(client, content: bytes, name="customers.csv", kind="customers", dry_run=False):
    data = {"kind": kind, "file": SimpleUploadedFile(name, content, "text/csv")}
    if dry_run:
        data["dry_run"] = "on"
    return client.post(URL, data, HTTP_ACCEPT_LANGUAGE="en")


@pytest.mark.parametrize("persona", ["rep", "manager"])
def test_reps_and_managers_get_404(client, persona, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(URL).status_code == 404
    assert upload(client, GOOD).status_code == 404
    assert not Customer.objects.exists()


def test_finance_imports_a_file_and_sees_it_in_the_history(client, finance):
    client.force_login(finance)
    response = upload(client, GOOD)
    assert response.status_code == 200
    report = response.context["report"]
    assert (report.rows_read, report.created, report.accepted) == (2, 2, True)
    assert set(Customer.objects.values_list("name", flat=True)) == {"上传公司", "第二公司"}
    run = ImportRun.objects.get()
    assert (run.user, run.file_name, run.kind, run.status) == (
        finance,
        "customers.csv",
        "customers",
        "accepted",
    )
    assert "customers.csv" in client.get(URL).content.decode()


def test_a_rejected_upload_lists_every_problem_and_changes_nothing(client, admin_user):
    client.force_login(admin_user)
    response = upload(client, BAD)
    assert response.status_code == 422
    page = response.content.decode()
    assert "customers.csv:1:colour: unknown column" in page
    assert not Customer.objects.exists()
    assert ImportRun.objects.get().status == "rejected"


def test_dry_run_reports_and_writes_nothing(client, finance):
    client.force_login(finance)
    response = upload(client, GOOD, dry_run=True)
    assert response.context["report"].created == 2
    assert "would import" in response.content.decode()
    assert not Customer.objects.exists()
    assert ImportRun.objects.get().dry_run


def test_an_xlsx_upload_keeps_its_extension(client, finance):
    import io

    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["code", "name"])
    book.active.append(["X1", "表格公司"])
    buffer = io.BytesIO()
    book.save(buffer)
    client.force_login(finance)
    response = upload(client, buffer.getvalue(), name="book.xlsx")
    assert response.context["report"].accepted
    assert Customer.objects.get(code="X1").name == "表格公司"


def test_history_page_query_count_is_pinned(client, finance, django_assert_num_queries):
    client.force_login(finance)
    for _ in range(3):
        upload(client, GOOD)
    client.get(URL)
    with django_assert_num_queries(5):
        client.get(URL)
