"""What no handler answers still gets a proper answer: a database that can't be reached is a
JSON 503 with Retry-After, anything else a JSON 500; both carry the security headers and
neither escapes to the server (which would drop the client's keep-alive connection)."""

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from api.app import create_app
from nudge.platform.settings import Settings


@pytest.fixture
def app():  # type: ignore[no-untyped-def]
    app = create_app(Settings())

    def database_gone() -> None:
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    def bug() -> None:
        raise ValueError("a bug")

    app.add_api_route("/api/test/database-gone", database_gone)
    app.add_api_route("/api/test/bug", bug)
    return app


async def call(app, path: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    # raise_app_exceptions: an exception that escaped the app would fail the test here.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://nudge.test") as http:
        return await http.get(path)


async def test_an_unreachable_database_is_a_json_503_to_retry(app) -> None:  # type: ignore[no-untyped-def]
    resp = await call(app, "/api/test/database-gone")
    assert resp.status_code == 503
    assert resp.headers["retry-after"] == "5"
    assert resp.headers["x-content-type-options"] == "nosniff"
    detail = resp.json()["detail"]
    assert "database is unavailable" in detail and "again is safe" in detail


async def test_a_bug_is_a_json_500_without_the_traceback(app) -> None:  # type: ignore[no-untyped-def]
    resp = await call(app, "/api/test/bug")
    assert resp.status_code == 500
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.json() == {"detail": "internal error; the server log has the details"}
