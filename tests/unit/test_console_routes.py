"""gateway/envoy.py's console routes: envoy.yaml's asset route, which names a directory, becomes one exact route per
built file, with its content-type; a console that was never built is a clear error, not Envoy's."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from gateway import envoy

TEMPLATE = [
    {"name": "other", "match": {"path": "/x"}, "direct_response": {"status": 200, "body": {"filename": "x.html"}}},
    {"name": envoy.CONSOLE_PAGE_ROUTE, "match": {"safe_regex": {"regex": "/|/console/?"}},
     "direct_response": {"status": 200, "body": {"filename": "dist/index.html"}}},
    {"name": envoy.CONSOLE_ASSETS_ROUTE, "match": {"prefix": "/console/assets/"},
     "direct_response": {"status": 200, "body": {"filename": "dist/assets"}},
     "response_headers_to_add": [{"header": {"key": "cache-control", "value": "immutable"},
                                  "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}],
     "typed_per_filter_config": {"lua": {"disabled": True}}},
]


def _build(root: Path, *names: str) -> None:
    (root / "dist" / "assets").mkdir(parents=True)
    (root / "dist" / "index.html").write_text("<html></html>")
    for name in names:
        (root / "dist" / "assets" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "dist" / "assets" / name).write_text(name)


def test_one_route_per_built_file(tmp_path: Path) -> None:
    _build(tmp_path, "index-AbC123.js", "index-Xy9.css", "fonts/a-1.woff2")
    routes = envoy.console_routes(copy.deepcopy(TEMPLATE), root=tmp_path)

    assert [route["name"] for route in routes] == [
        "other", envoy.CONSOLE_PAGE_ROUTE, "console-assets/fonts/a-1.woff2", "console-assets/index-AbC123.js",
        "console-assets/index-Xy9.css"]
    by_path = {route["match"].get("path"): route for route in routes[2:]}
    script = by_path["/console/assets/index-AbC123.js"]
    assert script["direct_response"]["body"]["filename"] == str((tmp_path / "dist/assets/index-AbC123.js").resolve())
    assert script["response_headers_to_add"][0]["header"] == {"key": "content-type",
                                                              "value": "text/javascript; charset=utf-8"}
    # The template's own headers and per-filter config come along.
    assert script["response_headers_to_add"][1]["header"] == {"key": "cache-control", "value": "immutable"}
    assert script["typed_per_filter_config"] == {"lua": {"disabled": True}}
    assert by_path["/console/assets/index-Xy9.css"]["response_headers_to_add"][0]["header"]["value"] == \
        "text/css; charset=utf-8"
    assert by_path["/console/assets/fonts/a-1.woff2"]["response_headers_to_add"][0]["header"]["value"] == "font/woff2"
    # The page and the other routes are left as they are.
    assert routes[:2] == TEMPLATE[:2]


@pytest.mark.parametrize("missing", ["dist/index.html", "dist/assets"])
def test_an_unbuilt_console_is_a_clear_error(tmp_path: Path, missing: str) -> None:
    _build(tmp_path, "index-1.js")
    target = tmp_path / missing
    if target.is_dir():
        for item in target.iterdir():
            item.unlink()
        target.rmdir()
    else:
        target.unlink()
    with pytest.raises(envoy.EnvoyError, match=r"the console is not built.*make console"):
        envoy.console_routes(copy.deepcopy(TEMPLATE), root=tmp_path)


def test_envoy_yaml_names_both_console_routes() -> None:
    routes = envoy.load_config()["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0][
        "typed_config"]["route_config"]["virtual_hosts"][0]["routes"]
    names = {route.get("name") for route in routes}
    assert {envoy.CONSOLE_PAGE_ROUTE, envoy.CONSOLE_ASSETS_ROUTE} <= names
