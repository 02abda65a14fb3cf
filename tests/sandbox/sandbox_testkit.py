"""Helpers and fixtures shared by the sandbox tests: constants, fake clocks, a GraphQL poster, a webhook receiver.

There is deliberately no conftest.py in this folder: a second `conftest` module would
shadow tests/conftest.py for modules that import from it. Test modules import the
fixtures they use from here instead.
"""
from __future__ import annotations

import http.server
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    get_named_type,
)

SHOP = "demo.myshopify.com"
CLIENT_ID = "sandbox-test-client"
CLIENT_SECRET = "sandbox-test-secret-0123456789abcdef"


def _test_app_scopes() -> tuple[str, ...]:
    from sandbox.shopify.server import DEFAULT_APP_SCOPES

    return DEFAULT_APP_SCOPES + ("write_orders",)


# The generic test app: our app's scopes, plus write_orders for the merchant-side order cancels the tests drive.
TEST_APP_SCOPES = _test_app_scopes()


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: float):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def graphql(client: httpx.Client, token: str, query: str, variables: dict | None = None, shop: str = SHOP) -> httpx.Response:
    """POST a document to the shop's Admin GraphQL endpoint (through the routed client)."""
    return client.post(
        f"https://{shop}/admin/api/2026-10/graphql.json",
        json={"query": query, "variables": variables},
        headers={"X-Shopify-Access-Token": token},
    )


# -- response shape checking --------------------------------------------------------------


def assert_conforms(schema: GraphQLSchema, document: DocumentNode, data: dict) -> None:
    """Fail unless `data` has exactly the document's fields with values of the schema's types."""
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    _FRAGMENTS.clear()
    _FRAGMENTS.update({d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)})
    root = schema.mutation_type if operation.operation is OperationType.MUTATION else schema.query_type
    _check_selection(schema, operation.selection_set, root, data, "data")


_FRAGMENTS: dict = {}  # named fragments of the document being checked


def _check_selection(schema, selection_set, parent, value, path) -> None:
    assert isinstance(value, dict), f"{path}: expected an object, got {value!r}"
    typename = value.get("__typename")
    concrete = schema.get_type(typename) if typename else parent
    expected_keys = set()
    for selection in selection_set.selections:
        if isinstance(selection, FragmentSpreadNode):  # a named fragment: its fields, if its type applies
            selection = _FRAGMENTS[selection.name.value]
        if isinstance(selection, (InlineFragmentNode, FragmentDefinitionNode)):
            condition = schema.get_type(selection.type_condition.name.value)
            if concrete is condition or (isinstance(concrete, GraphQLObjectType) and condition in concrete.interfaces):
                for inner in selection.selection_set.selections:
                    expected_keys.add(_check_field(schema, inner, concrete, value, path))
            continue
        expected_keys.add(_check_field(schema, selection, parent, value, path))
    assert set(value) == expected_keys, f"{path}: keys {sorted(value)} != selected {sorted(expected_keys)}"


def _check_field(schema, field: FieldNode, parent, value: dict, path: str) -> str:
    key = field.alias.value if field.alias else field.name.value
    assert key in value, f"{path}.{key} missing"
    if field.name.value == "__typename":
        assert isinstance(value[key], str)
        return key
    _check_value(schema, parent.fields[field.name.value].type, field, value[key], f"{path}.{key}")
    return key


def _check_value(schema, type_, field: FieldNode, value, path: str) -> None:
    if isinstance(type_, GraphQLNonNull):
        assert value is not None, f"{path}: null for non-null {type_}"
        return _check_value(schema, type_.of_type, field, value, path)
    if value is None:
        return
    if isinstance(type_, GraphQLList):
        assert isinstance(value, list), f"{path}: expected a list"
        for i, item in enumerate(value):
            _check_value(schema, type_.of_type, field, item, f"{path}[{i}]")
        return
    named = get_named_type(type_)
    if isinstance(named, GraphQLEnumType):
        assert value in named.values, f"{path}: {value!r} is not a {named.name}"
    elif isinstance(named, GraphQLScalarType):
        expected = {"Int": int, "Float": (int, float), "Boolean": bool, "String": str, "ID": str}.get(named.name, (str, int, float, bool))
        assert isinstance(value, expected), f"{path}: {value!r} is not a {named.name}"
        if named.name == "Int":
            assert not isinstance(value, bool)
    else:
        _check_selection(schema, field.selection_set, named, value, path)


# -- a webhook receiver ---------------------------------------------------------------------


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A tiny local HTTP server that records POSTs and answers scripted statuses (then 200)."""

    statuses: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    server: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.requests)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Block until `count` requests arrived (or fail)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received()
            if len(got) >= count:
                return got
            time.sleep(0.01)
        raise AssertionError(f"expected {count} requests, got {len(self.received())}")


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    """Monotonic time for the cost buckets."""
    return FakeClock(10_000.0)


@pytest.fixture
def wall() -> FakeClock:
    """Wall-clock time for timestamps and token expiry, starting now."""
    return FakeClock(float(int(time.time())))


@pytest.fixture
def sandbox(clock: FakeClock, wall: FakeClock):
    """A started sandbox with the demo shop and one registered app (without an app URL)."""
    from sandbox.shopify import SandboxShopify

    sb = SandboxShopify(clock=clock, wall_clock=wall, webhook_retry_delay=0.01)
    sb.register_app(CLIENT_ID, CLIENT_SECRET, app_url=None, scopes=TEST_APP_SCOPES)
    sb.start()
    yield sb
    sb.stop()


@pytest.fixture
def client(sandbox):
    """An httpx client that reaches the sandbox through `https://<shop>.myshopify.com` URLs."""
    with sandbox.http_client() as c:
        yield c


@pytest.fixture
def token(sandbox) -> str:
    """A non-expiring offline token for the demo shop."""
    return sandbox.issue_access_token(SHOP, CLIENT_ID)["access_token"]


@pytest.fixture
def gql(client, token):
    """POST a document as the registered app: gql(query, variables=None, token=..., shop=...)."""

    def post(query: str, variables: dict | None = None, *, token: str = token, shop: str = SHOP) -> httpx.Response:
        return graphql(client, token, query, variables, shop)

    return post


@pytest.fixture
def receiver():
    """A started local HTTP receiver."""
    rec = Receiver().start()
    yield rec
    rec.stop()
