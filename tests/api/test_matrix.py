"""The authorization matrix: every operation of the API × every role → the expected status.

Each operation is sent against the rep's account R001 (owned by `rep`, `teammate` on its
account team; `manager` manages both; `outsider` is in another team). Writes carry valid
bodies, so a 2xx must have written the row (asserted), and a refusal must have written
nothing (every table and the audit trail compared before and after). A 200 list must show
the target object exactly when the role may read it.

The table is checked against the router and against the OpenAPI document: an operation
the API serves that the table does not name fails, and so does a row naming one that is
gone.
"""

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.routers import DefaultRouter

from kam.api_urls import router
from tests.api.operations import OPS, router_operations
from tests.api.world import ROLES, snapshot

pytestmark = pytest.mark.django_db

# What each role gets for each operation on the rep's account (SPEC §1, §6):
# 404 outside the scope (never 403: no existence leak), 403 for a visible object or a
# collection the role may not write, 400 when a body names an object outside the scope.
# fmt: off
MATRIX: dict[str, tuple[int, int, int, int, int, int]] = {
    # operation                      rep  teammate outsider manager finance admin
    "customers list":               (200, 200,     200,     200,    200,    200),
    "customers create":             (403, 403,     403,     403,    403,    201),
    "customers retrieve":           (200, 200,     404,     200,    200,    200),
    "customers update":             (403, 403,     404,     200,    403,    200),
    "customers partial_update":     (403, 403,     404,     200,    403,    200),
    "buying-units list":            (200, 200,     200,     200,    200,    200),
    "buying-units create":          (201, 201,     400,     201,    403,    201),
    "buying-units retrieve":        (200, 200,     404,     200,    200,    200),
    "buying-units update":          (200, 200,     404,     200,    403,    200),
    "buying-units partial_update":  (200, 200,     404,     200,    403,    200),
    "contacts list":                (200, 200,     200,     200,    403,    200),
    "contacts create":              (201, 201,     400,     201,    403,    201),
    "contacts retrieve":            (200, 200,     404,     200,    404,    200),
    "contacts update":              (200, 200,     404,     200,    404,    200),
    "contacts partial_update":      (200, 200,     404,     200,    404,    200),
    "sales-lines list":             (200, 200,     200,     200,    200,    200),
    "sales-lines retrieve":         (200, 200,     404,     200,    200,    200),
    "receivables list":             (200, 200,     200,     200,    200,    200),
    "receivables retrieve":         (200, 200,     404,     200,    200,    200),
    "visits list":                  (200, 200,     200,     200,    403,    200),
    "visits create":                (201, 201,     400,     201,    403,    201),
    "visits retrieve":              (200, 200,     404,     200,    404,    200),
    # Only the author (the rep) or an admin changes a visit.
    "visits update":                (200, 403,     404,     403,    404,    200),
    "visits partial_update":        (200, 403,     404,     403,    404,    200),
    "follow-ups list":              (200, 200,     200,     200,    403,    200),
    "follow-ups create":            (201, 201,     400,     201,    403,    201),
    "follow-ups retrieve":          (200, 200,     404,     200,    404,    200),
    # Only the follow-up's owner (the rep) or a manager acts on it.
    "follow-ups complete":          (200, 403,     404,     200,    404,    200),
    "follow-ups snooze":            (200, 403,     404,     200,    404,    200),
    "follow-ups reassign":          (200, 403,     404,     200,    404,    200),
    "account-plans list":           (200, 200,     200,     200,    403,    200),
    "account-plans create":         (201, 201,     400,     201,    403,    201),
    "account-plans retrieve":       (200, 200,     404,     200,    404,    200),
    "account-plans update":         (200, 200,     404,     200,    404,    200),
    "account-plans partial_update": (200, 200,     404,     200,    404,    200),
    "plan-objectives list":         (200, 200,     200,     200,    403,    200),
    "plan-objectives create":       (201, 201,     400,     201,    403,    201),
    "plan-objectives retrieve":     (200, 200,     404,     200,    404,    200),
    "plan-objectives update":       (200, 200,     404,     200,    404,    200),
    "plan-objectives partial_update": (200, 200,   404,     200,    404,    200),
    "plan-actions list":            (200, 200,     200,     200,    403,    200),
    "plan-actions create":          (201, 201,     400,     201,    403,    201),
    "plan-actions retrieve":        (200, 200,     404,     200,    404,    200),
    "plan-actions update":          (200, 200,     404,     200,    404,    200),
    "plan-actions partial_update":  (200, 200,     404,     200,    404,    200),
    "runs list":                    (403, 403,     403,     200,    200,    200),
    "runs retrieve":                (404, 404,     404,     200,    200,    200),
    "contributions list":           (200, 200,     200,     200,    200,    200),
    "contributions retrieve":       (200, 200,     404,     200,    200,    200),
    "tier-overrides list":          (200, 200,     200,     200,    200,    200),
    "tier-overrides create":        (403, 403,     403,     201,    403,    201),
    "tier-overrides retrieve":      (200, 200,     404,     200,    200,    200),
    "tier-overrides revoke":        (403, 403,     404,     200,    403,    200),
    "tier-policy list":             (403, 403,     403,     200,    200,    200),
    "tier-policy create":           (403, 403,     403,     201,    403,    201),
    "tier-policy retrieve":         (404, 404,     404,     200,    200,    200),
    "tier-policy current":          (403, 403,     403,     200,    200,    200),
}
# fmt: on

CELLS = [(name, role) for name in MATRIX for role in ROLES]


def test_the_matrix_names_every_operation_the_router_serves_and_no_other():
    served = router_operations()
    assert sorted(served - MATRIX.keys()) == [], "operations missing from MATRIX"
    assert sorted(MATRIX.keys() - served) == [], "MATRIX rows for operations that do not exist"
    assert MATRIX.keys() == OPS.keys(), "every MATRIX row needs a request in operations.OPS"


def test_a_new_operation_would_be_noticed():
    """The check above is not vacuous: a viewset added to the router shows up in it."""

    class ArchiveViewSet(viewsets.ViewSet):
        def list(self, request):
            raise NotImplementedError

        @action(detail=True, methods=["post"])
        def archive(self, request, pk=None):
            raise NotImplementedError

    extended = DefaultRouter()
    extended.registry.extend(router.registry)
    extended.register("archives", ArchiveViewSet, basename="archive")
    assert router_operations(extended) - MATRIX.keys() == {"archives list", "archives archive"}


def test_the_matrix_covers_every_path_and_method_of_the_openapi_document():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    documented = {
        (path, method)
        for path, item in schema["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    in_matrix = {(OPS[name].schema_path(), OPS[name].method) for name in MATRIX}
    assert sorted(documented - in_matrix) == [], "documented operations missing from MATRIX"
    assert sorted(in_matrix - documented) == [], "MATRIX operations the schema does not document"


def _ids(payload) -> set[int]:
    return {row["id"] for row in payload["results"]}


@pytest.mark.parametrize(("name", "role"), CELLS, ids=[f"{n}-{r}" for n, r in CELLS])
def test_matrix(shared_world, name, role):
    world = shared_world
    op, expected = OPS[name], MATRIX[name][ROLES.index(role)]
    account = world.mine
    if op.done is not None:
        assert not op.done(world, account), "the write is already there before the request"
    before = snapshot()
    body = op.body(world, account) if op.body else None
    response = getattr(world.client(role), op.method)(op.url(world, account), body, format="json")
    assert response.status_code == expected, (response.status_code, response.content[:400])

    if 200 <= expected < 300 and op.writes:
        assert op.done(world, account), "a 2xx that did not write"
    else:
        assert snapshot() == before, "a refused write (or a read) changed rows"

    if expected == 200 and op.action == "list":
        may_read = MATRIX[f"{op.route} retrieve"][ROLES.index(role)] == 200
        target = op.target(world, account).pk
        assert (target in _ids(response.json())) == may_read
    if expected == 200 and op.action == "retrieve":
        assert response.json()["id"] == op.target(world, account).pk
