"""The bootstrap server's web UI in a real browser, against ``lwm2m bootstrap-server``.

Configurations are added, edited and deleted through the page's form, and what
the bootstrap server stored is read back through its REST API (Leshan's
BootstrapConfig JSON); refused input leaves the store as it was.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from ui_stack import RunningServer, Stack, start_bootstrap_server

EP = "bs-dev"
DM_KEY = "00112233445566778899aabbccddeeff"
BS_KEY = "f0e1d2c3b4a5968778695a4b3c2d1e0f"

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def bootstrap() -> Iterator[RunningServer]:
    stack = Stack()
    try:
        server = stack.call(start_bootstrap_server())
        yield server
        stack.call(server.close())
    finally:
        stack.close()


def stored(server: RunningServer) -> Any:
    with urllib.request.urlopen(f"{server.http}/api/bootstrap", timeout=10) as response:
        return json.loads(response.read())


def test_add_edit_and_delete_a_configuration(page: Page, bootstrap: RunningServer) -> None:
    page.goto(f"{bootstrap.http}/")
    expect(page.locator("#config-table")).to_contain_text("No configuration yet.")
    page.click("#config-new")

    page.fill("#config-endpoint", EP)
    account = page.locator(".server-account").first
    account.locator("input.uri").fill("coaps://127.0.0.1:5684")
    account.locator("input.short-id").fill("123")
    account.locator("select.mode").select_option("PSK")
    account.locator("input.identity").fill("bs-dev-dm")
    account.locator("input.key").fill(DM_KEY)
    account.locator("input.lifetime").fill("600")
    page.check("#bs-include")
    bs = page.locator(".bootstrap-account")
    bs.locator("input.uri").fill("coaps://127.0.0.1:5784")
    bs.locator("select.mode").select_option("PSK")
    bs.locator("input.identity").fill("bs-dev-bs")
    bs.locator("input.key").fill(BS_KEY)

    # refused by the page: a PSK that is not hex; nothing reaches the server
    account.locator("input.key").fill("00zz")
    page.click("#config-save")
    expect(page.locator("#config-error")).to_contain_text(
        "Not saved: server account 1: PSK malformed hex: 'z'"
    )
    assert stored(bootstrap) == {}
    account.locator("input.key").fill(DM_KEY)
    page.click("#config-save")

    row = page.locator(f'#config-table tr[data-endpoint="{EP}"]')
    expect(row).to_be_visible()
    expect(page.locator("#config-status")).to_contain_text(f"Configuration of {EP} saved.")
    expect(row.locator(".servers")).to_have_text(
        "coaps://127.0.0.1:5684 (PSK identity bs-dev-dm), short id 123, lifetime 600 s"
    )
    expect(row.locator(".bootstrap")).to_have_text(
        "coaps://127.0.0.1:5784 (PSK identity bs-dev-bs)"
    )

    config = stored(bootstrap)[EP]
    assert config["toDelete"] == ["/0", "/1"]
    (server_instance,) = config["servers"].values()
    assert config["servers"]["0"] is server_instance
    assert server_instance["shortId"] == 123 and server_instance["lifetime"] == 600
    assert server_instance["binding"] == "U" and server_instance["notifIfDisabled"] is True
    assert set(config["security"]) == {"0", "1"}
    server_account = config["security"]["1"]
    assert server_account["uri"] == "coaps://127.0.0.1:5684"
    assert server_account["bootstrapServer"] is False
    assert server_account["securityMode"] == "PSK"
    assert server_account["publicKeyOrId"] == list(b"bs-dev-dm")
    assert server_account["secretKey"] == list(bytes.fromhex(DM_KEY))
    assert server_account["serverId"] == 123
    bootstrap_account = config["security"]["0"]
    assert bootstrap_account["uri"] == "coaps://127.0.0.1:5784"
    assert bootstrap_account["bootstrapServer"] is True
    assert bootstrap_account["publicKeyOrId"] == list(b"bs-dev-bs")
    assert bootstrap_account["secretKey"] == list(bytes.fromhex(BS_KEY))

    # edit: the form shows what is stored; a change keeps everything else
    row.locator("a.edit").click()
    account = page.locator(".server-account").first
    expect(page.locator("#config-endpoint")).to_have_value(EP)
    expect(account.locator("input.identity")).to_have_value("bs-dev-dm")
    expect(account.locator("input.key")).to_have_value(DM_KEY)
    account.locator("input.lifetime").fill("900")
    account.locator("input.binding").fill("UQ")
    page.click("#config-save")
    expect(row.locator(".servers")).to_contain_text("lifetime 900 s")
    edited = stored(bootstrap)[EP]
    assert edited["servers"]["0"]["lifetime"] == 900
    assert edited["servers"]["0"]["binding"] == "UQ"
    assert edited["security"] == config["security"]
    assert edited["toDelete"] == config["toDelete"]

    # a configuration the server refuses: its reason is shown, nothing changes
    row.locator("a.edit").click()
    page.check("#json-mode")
    text = page.locator("#config-json").input_value()
    body = json.loads(text)
    body["servers"]["0"]["shortId"] = 0
    page.fill("#config-json", json.dumps(body))
    page.click("#config-save")
    expect(page.locator("#config-error")).to_contain_text(
        "Refused by the server: 400: short ID must not be 0"
    )
    assert stored(bootstrap)[EP] == edited
    page.goto(f"{bootstrap.http}/#/")

    # delete, after a confirmation
    row.locator("button.delete").click()
    row.locator("button.confirm-delete").click()
    expect(row).to_have_count(0)
    expect(page.locator("#config-status")).to_contain_text(f"Configuration of {EP} deleted.")
    assert stored(bootstrap) == {}


def test_bootstrap_psks(page: Page, bootstrap: RunningServer) -> None:
    page.goto(f"{bootstrap.http}/#/security")
    page.fill("#psk-endpoint", "bs-psk-dev")
    page.fill("#psk-identity", "bs-psk-identity")
    page.fill("#psk-key", BS_KEY)
    page.click("#psk-add")
    row = page.locator('#security-table tr[data-endpoint="bs-psk-dev"]')
    expect(row).to_contain_text("bs-psk-identity")
    with urllib.request.urlopen(f"{bootstrap.http}/api/security/clients", timeout=10) as resp:
        assert json.loads(resp.read()) == [
            {
                "endpoint": "bs-psk-dev",
                "tls": {"mode": "psk", "details": {"identity": "bs-psk-identity", "key": BS_KEY}},
            }
        ]
    row.locator("button.delete").click()
    expect(row).to_have_count(0)
    with urllib.request.urlopen(f"{bootstrap.http}/api/security/clients", timeout=10) as resp:
        assert json.loads(resp.read()) == []
