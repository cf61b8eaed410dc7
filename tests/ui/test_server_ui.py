"""The server's web UI in a real browser, against ``lwm2m server`` and the sample client.

One server and one sample device (``ui-dev``, its temperature drifting) serve the
whole module; tests that need more start their own devices. What the page shows
is checked against the device itself (its reboots, values, installed images) and
against the server's event stream, read by a plain HTTP client: that is how the
refusals of bad input are shown to send nothing to the device.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect
from ui_stack import (
    EventWatcher,
    RunningServer,
    Stack,
    start_device,
    start_server,
    stop_device,
)

import lwm2m
from lwm2m.objects.device import Device
from lwm2m.sample import SampleDevice

EP = "ui-dev"
FORMATS = ["TLV", "JSON", "SENML_JSON", "SENML_CBOR", "LWM2M_CBOR", "TEXT", "OPAQUE", "CBOR"]

pytestmark = pytest.mark.timeout(60)


@dataclass
class Env:
    stack: Stack
    server: RunningServer
    device: SampleDevice
    watcher: EventWatcher
    tmp: Path

    def url(self, hash_path: str = "/") -> str:
        return f"{self.server.http}/#{hash_path}"

    def get(self, path: str) -> Any:
        """A value of the device, read on its own event loop."""

        async def read() -> Any:
            return self.device.client.get(path)

        return self.stack.call(read())

    def set(self, path: str, new: Any) -> None:
        """Change a value on the device (its observers are notified), on its loop."""

        async def write() -> None:
            self.device.client.set(path, new)

        self.stack.call(write())


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("ui-server")
    stack = Stack()
    try:
        server = stack.call(start_server())
        device = stack.call(start_device(EP, server.coap_uri, tmp / "fw", drift=0.2))
        watcher = EventWatcher(f"{server.http}/api/event?ep={EP}")
        stack.call(watcher.start())
        yield Env(stack, server, device, watcher, tmp)
        stack.call(watcher.close())
        stack.call(stop_device(device))
        stack.call(server.close())
    finally:
        stack.close()


def get_json(url: str, token: str | None = None) -> Any:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def wait_until(condition: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


# --- page helpers --------------------------------------------------------------------


def open_device(page: Page, env: Env, endpoint: str = EP) -> None:
    page.goto(env.url(f"/device/{endpoint}"))
    expect(page.locator("#device-name")).to_have_text(endpoint)
    expect(node(page, "/3/0/0")).to_have_count(1)  # the tree is named from the models
    page.get_by_role("button", name="Expand all").click()


def node(page: Page, path: str) -> Locator:
    return page.locator(f'.node[data-path="{path}"]')


def op(page: Page, path: str, label: str) -> Locator:
    return (
        node(page, path)
        .locator(":scope > .line .ops")
        .get_by_role("button", name=label, exact=True)
    )


def result(page: Page, path: str) -> Locator:
    return node(page, path).locator(":scope > .result")


def panel(page: Page, path: str) -> Locator:
    return node(page, path).locator(":scope > .panel")


def value(page: Page, path: str) -> Locator:
    return node(page, path).locator(":scope > .line .value")


def expect_status(target: Locator, status: str) -> None:
    expect(target).to_have_attribute("data-status", status)


# --- the device list ------------------------------------------------------------------


def test_device_list_updates_live_and_filters(page: Page, env: Env) -> None:
    page.goto(env.url())
    row = page.locator(f'#device-table tr[data-endpoint="{EP}"]')
    expect(row).to_be_visible()
    expect(row.locator(".lifetime")).to_have_text("120 s")
    expect(row.locator(".binding")).to_have_text("U")
    expect(row.locator(".version")).to_have_text("1.1")
    expect(row.locator(".queue")).to_have_text("no")
    expect(row.locator(".secure")).to_have_text("no")
    expect(row.locator(".seen")).to_have_text(re.compile(r"^\d+ (s|min) ago$"))
    expect(row.locator(".address")).to_have_text(re.compile(r"^127\.0\.0\.1:\d+$"))
    expect(page.locator("#conn")).to_have_text("live")

    page.fill("#device-filter", "nothing-like-it")
    expect(row).to_have_count(0)
    expect(page.locator("#device-table")).to_contain_text("No endpoint matches the filter.")
    page.fill("#device-filter", "UI-D")  # case-insensitive
    expect(row).to_be_visible()
    page.fill("#device-filter", "")

    # a device that registers while the page is open appears, and goes on deregistration
    late = env.stack.call(start_device("ui-late", env.server.coap_uri, env.tmp / "fw-late"))
    late_row = page.locator('#device-table tr[data-endpoint="ui-late"]')
    try:
        expect(late_row).to_be_visible()
        expect(page.locator("#device-count")).to_have_text("2 devices")
        late_row.locator("a").click()
        expect(node(page, "/3/0")).to_have_count(1)
    finally:
        env.stack.call(stop_device(late))
    # its page says so, and an operation shows the API's refusal text
    expect(page.locator("#device-banner")).to_contain_text("ui-late deregistered")
    op(page, "/3", "Read").click()
    expect_status(result(page, "/3"), "HTTP 400")
    expect(result(page, "/3")).to_contain_text("No registered client with id 'ui-late'")
    page.click("#nav-devices")
    expect(late_row).to_have_count(0)
    expect(page.locator("#device-count")).to_have_text("1 device")


# --- reads, writes, execute -----------------------------------------------------------


def test_read_device_object_shows_its_values(page: Page, env: Env) -> None:
    open_device(page, env)
    options = page.locator("#format option").all_inner_texts()
    assert options == ["default", *FORMATS]
    page.select_option("#format", "TLV")
    op(page, "/3/0", "Read").click()
    expect_status(result(page, "/3/0"), "CONTENT(205)")
    expect(value(page, "/3/0/0")).to_have_text("lwm2m-python")
    expect(value(page, "/3/0/1")).to_have_text("sample-client")
    expect(value(page, "/3/0/2")).to_have_text(EP)
    expect(value(page, "/3/0/3")).to_have_text("1.0.0")
    expect(value(page, "/3/0/9")).to_have_text("100")
    expect(value(page, "/3/0/11")).to_have_text("0: 0")
    expect(value(page, "/3/0/13")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"))
    expect(node(page, "/3/0/20")).to_have_class(re.compile(r"\babsent\b"))  # not on the device
    expect(node(page, "/3/0/4")).not_to_have_class(re.compile(r"\babsent\b"))  # executable

    # every content format: the device answers each, or refuses with its code
    for name in FORMATS:
        page.select_option("#format", name)
        op(page, "/3/0/0", "Read").click()
        outcome = result(page, "/3/0/0")
        if name == "OPAQUE":  # a string cannot travel as application/octet-stream
            expect_status(outcome, "NOT_ACCEPTABLE(406)")
            expect(outcome).to_have_class(re.compile(r"\berr\b"))
        else:
            expect_status(outcome, "CONTENT(205)")
            expect(outcome).to_contain_text("/3/0/0 = lwm2m-python")

    # the CoAP log shows the request and its answer as the device exchanged them
    log = page.locator("#coap-log")
    expect(log.locator("tr.out", has_text="Uri-Path: 3, 0").first).to_contain_text("CON")
    expect(log.locator("tr.out td.options", has_text="Accept: LWM2M_TLV")).not_to_have_count(0)
    expect(log.locator("tr.in td.code", has_text="2.05")).not_to_have_count(0)


def test_write_utc_offset(page: Page, env: Env) -> None:
    open_device(page, env)
    op(page, "/3/0/14", "Write").click()
    editor = panel(page, "/3/0/14")
    editor.locator("input.value-input").fill("+02:00")
    editor.locator("button.do-write").click()
    expect_status(result(page, "/3/0/14"), "CHANGED(204)")
    assert env.get("3/0/14") == "+02:00"
    env.set("3/0/14", "+03:30")  # changed on the device: a Read shows it
    op(page, "/3/0/14", "Read").click()
    expect(value(page, "/3/0/14")).to_have_text("+03:30")


def test_execute_reboot(page: Page, env: Env) -> None:
    open_device(page, env)
    before = len(env.device.reboots)
    op(page, "/3/0/4", "Exec").click()
    panel(page, "/3/0/4").locator("button.do-exec").click()
    expect_status(result(page, "/3/0/4"), "CHANGED(204)")
    wait_until(lambda: len(env.device.reboots) == before + 1, "the device's reboot")
    assert env.device.reboots[-1] == "reboot"


def test_create_and_delete_an_instance(page: Page, env: Env) -> None:
    open_device(page, env)
    op(page, "/3311", "Create").click()
    form = panel(page, "/3311")
    expect(form.locator("input.iid")).to_have_value("1")
    on_off = form.locator('.row[data-rid="5850"]')
    expect(on_off.locator("input.include")).to_be_checked()  # mandatory
    on_off.locator("select").select_option("true")
    form.locator('.row[data-rid="5851"] input.value-input').fill("55")
    form.locator("button.do-create").click()
    expect_status(result(page, "/3311"), "CREATED(201)")
    expect(value(page, "/3311/1/5851")).to_have_text("55")
    assert env.get("3311/1/5851") == 55
    op(page, "/3311/1", "Delete").click()
    panel(page, "/3311/1").locator("button.do-delete").click()
    expect(node(page, "/3311/1")).to_have_count(0)
    expect_status(result(page, "/3311"), "DELETED(202)")


def test_write_attributes_and_discover(page: Page, env: Env) -> None:
    open_device(page, env)
    op(page, "/3303/0/5700", "Attributes").click()
    attrs = panel(page, "/3303/0/5700")
    attrs.locator("input.attr-pmin").fill("1")
    attrs.locator("input.attr-pmax").fill("30")
    attrs.locator("input.attr-st").fill("0.5")
    attrs.locator("button.do-attr").click()
    expect_status(result(page, "/3303/0/5700"), "CHANGED(204)")
    op(page, "/3303/0", "Discover").click()
    expect_status(result(page, "/3303/0"), "CONTENT(205)")
    expect(result(page, "/3303/0")).to_contain_text("</3303/0/5700>;pmin=1;pmax=30;st=0.5")
    attrs.locator("input.attr-pmin").fill("-")  # removes pmin
    attrs.locator("input.attr-pmax").fill("-")
    attrs.locator("input.attr-st").fill("-")
    attrs.locator("button.do-attr").click()
    expect(result(page, "/3303/0/5700")).to_contain_text("pmin removed")
    op(page, "/3303/0/5700", "Discover").click()
    expect(result(page, "/3303/0/5700").locator(".detail")).to_have_text("</3303/0/5700>")


def test_composite_read_observe_and_write(page: Page, env: Env) -> None:
    open_device(page, env)
    node(page, "/3/0/0").locator(":scope > .line input.pick").check()
    page.fill("#composite-add", "/3303/0/5700")
    page.click("#composite-add-button")
    expect(page.locator("#composite-paths .chip")).to_have_count(2)
    page.select_option("#composite-format", "SENML_JSON")
    page.click("#composite-read")
    outcome = page.locator("#composite-result")
    expect_status(outcome, "CONTENT(205)")
    expect(outcome).to_contain_text("/3/0/0 = lwm2m-python")
    expect(outcome).to_contain_text("/3303/0/5700 = ")

    page.click("#composite-observe")
    expect_status(outcome, "CONTENT(205)")
    series = page.locator('#chart g.series[data-series="/3303/0/5700"]')
    expect(series).to_have_attribute("data-count", re.compile(r"^([3-9]|\d\d+)$"))
    page.click("#composite-cancel")
    expect(outcome).to_contain_text("cancelled")

    for chip in ("/3/0/0", "/3303/0/5700"):
        page.locator(f'#composite-paths .chip[data-path="{chip}"] button').click()
    for path in ("/3/0/14", "/3/0/15"):
        page.fill("#composite-add", path)
        page.click("#composite-add-button")
    page.click("#composite-write")
    editors = page.locator("#composite-panel")
    editors.locator('.row[data-path="/3/0/14"] input').fill("-05:00")
    editors.locator('.row[data-path="/3/0/15"] input').fill("America/Chicago")
    editors.locator("button.do-write-composite").click()
    expect_status(outcome, "CHANGED(204)")
    assert env.get("3/0/14") == "-05:00"
    assert env.get("3/0/15") == "America/Chicago"


# --- live values ----------------------------------------------------------------------


def test_observe_temperature_plots_live_values(page: Page, env: Env) -> None:
    open_device(page, env)
    op(page, "/3303/0/5700", "Observe").click()
    expect_status(result(page, "/3303/0/5700"), "CONTENT(205)")
    expect(op(page, "/3303/0/5700", "Cancel obs")).to_be_visible()
    series = page.locator('#chart g.series[data-series="/3303/0/5700"]')
    expect(series).to_have_attribute("data-count", re.compile(r"^([4-9]|\d\d+)$"))
    points = series.locator("polyline").get_attribute("points") or ""
    assert len(points.split()) >= 4
    expect(page.locator("#notifications li", has_text="NOTIFY /3303/0/5700 = ")).not_to_have_count(
        0
    )
    expect(page.locator(".legend-item")).to_contain_text("/3303/0/5700 = ")
    expect(value(page, "/3303/0/5700")).to_have_text(re.compile(r"^-?\d+(\.\d+)?$"))

    op(page, "/3303/0/5700", "Cancel obs").click()
    expect_status(result(page, "/3303/0/5700"), "CONTENT(205)")  # active cancel: GET Observe=1
    expect(op(page, "/3303/0/5700", "Observe")).to_be_visible()
    settled = int(series.get_attribute("data-count") or 0)
    time.sleep(0.8)  # four drifts of the temperature: no more points
    assert int(series.get_attribute("data-count") or 0) <= settled + 1


# --- firmware -------------------------------------------------------------------------


def choose_image(page: Page, image: bytes, name: str) -> None:
    page.set_input_files(
        "#fw-file", files=[{"name": name, "mimeType": "application/octet-stream", "buffer": image}]
    )
    expect(page.locator("#fw-info")).to_contain_text(f"{len(image)} bytes")


def update_and_check(page: Page, env: Env, image: bytes) -> None:
    page.click("#fw-update")
    expect(page.locator("#fw-result")).to_have_text("Firmware updated successfully (1)")
    expect(page.locator("#fw-state")).to_have_text("Idle (0)")
    wait_until(lambda: bool(env.device.updater.installed), "the installed image")
    assert env.device.updater.installed[-1].read_bytes() == image


def test_firmware_push_reaches_downloaded_then_updated(page: Page, env: Env) -> None:
    image = bytes(range(256)) * 80  # 20 KiB: 40 KiB of hex in the JSON, Block1 on CoAP
    open_device(page, env)
    choose_image(page, image, "push.bin")
    since = len(env.watcher.events)
    page.click("#fw-send")
    expect(page.locator("#fw-state")).to_have_text("Downloaded (2)", timeout=30_000)
    expect_status(page.locator("#fw-status"), "CHANGED(204)")
    expect(page.locator("#fw-progress")).to_have_attribute("data-percent", "100")
    for path in ("/5/0/3", "/5/0/5"):  # watched: observed, as the tree shows
        expect(node(page, path)).to_have_class(re.compile(r"\bobserved\b"))
    blocks = [
        entry for entry in env.watcher.requests_sent(since) if "Block1" in entry.get("options", "")
    ]
    assert len(blocks) >= 20, "the server pushes the image in Block1 blocks"
    update_and_check(page, env, image)


@pytest.mark.parametrize("scheme", ["http", "coap"])
def test_firmware_pull_from_the_server(page: Page, env: Env, scheme: str) -> None:
    image = bytes((i * 7 + len(scheme)) % 256 for i in range(12_000))
    open_device(page, env)
    choose_image(page, image, f"pull-{scheme}.bin")
    page.select_option("#fw-method", scheme)
    page.click("#fw-send")
    expect(page.locator("#fw-uri")).to_have_value(re.compile(rf"^{scheme}://127\.0\.0\.1:\d+/"))
    expect(page.locator("#fw-state")).to_have_text("Downloaded (2)", timeout=30_000)
    expect(page.locator("#fw-progress")).to_have_attribute("data-percent", "100")
    hosted = get_json(f"{env.server.http}/api/firmware")
    entry = next(e for e in hosted if e["name"] == f"pull-{scheme}.bin")
    assert entry["size"] == len(image) and entry["downloads"] >= 1
    if scheme == "http":
        assert entry["served"] == len(image)
    update_and_check(page, env, image)


# --- bad input ------------------------------------------------------------------------


def test_bad_input_is_refused_and_nothing_is_sent(page: Page, env: Env) -> None:
    open_device(page, env)
    since = len(env.watcher.events)

    op(page, "/1/0/1", "Write").click()  # Lifetime: an integer
    panel(page, "/1/0/1").locator("input.value-input").fill("12x")
    panel(page, "/1/0/1").locator("button.do-write").click()
    expect_status(result(page, "/1/0/1"), "not sent")
    expect(result(page, "/1/0/1")).to_contain_text("Lifetime: '12x' is not an integer")

    op(page, "/3311/0/5851", "Write").click()  # Dimmer: 0..100
    panel(page, "/3311/0/5851").locator("input.value-input").fill("101")
    panel(page, "/3311/0/5851").locator("button.do-write").click()
    expect(result(page, "/3311/0/5851")).to_contain_text("101 is outside the range 0..100")

    op(page, "/5/0/0", "Write").click()  # Package: opaque
    hex_input = panel(page, "/5/0/0").locator("textarea")
    hex_input.fill("0g12")
    panel(page, "/5/0/0").locator("button.do-write").click()
    expect(result(page, "/5/0/0")).to_contain_text("malformed hex: 'g' (character 2)")
    hex_input.fill("abc")
    panel(page, "/5/0/0").locator("button.do-write").click()
    expect(result(page, "/5/0/0")).to_contain_text("odd number")

    for typed, why in [
        ("/3/0/999", "unknown path /3/0/999: Device (3) has no resource 999"),
        ("/9999/0", "unknown path /9999/0: the device has no object 9999"),
        ("/3/7/1", "Device (3) has no instance 7 (instances: 0)"),
        ("/3/zero", "'/3/zero' is not an LwM2M path"),
    ]:
        page.fill("#path-input", typed)
        page.click("#path-read")
        expect_status(page.locator("#path-result"), "not sent")
        expect(page.locator("#path-result")).to_contain_text(why)

    op(page, "/3303/0/5700", "Attributes").click()
    panel(page, "/3303/0/5700").locator("input.attr-pmin").fill("soon")
    panel(page, "/3303/0/5700").locator("button.do-attr").click()
    expect(result(page, "/3303/0/5700")).to_contain_text("pmin: 'soon' is not a non-negative")

    time.sleep(0.5)  # anything sent would be in the server's trace by now
    assert env.watcher.requests_sent(since) == []

    # the same trace shows a request as soon as one is sent
    page.fill("#path-input", "/3/0/1")
    page.click("#path-read")
    expect_status(page.locator("#path-result"), "CONTENT(205)")
    wait_until(
        lambda: any(
            "Uri-Path: 3, 0, 1" in entry.get("options", "")
            for entry in env.watcher.requests_sent(since)
        ),
        "the Read in the server's trace",
    )


# --- security -------------------------------------------------------------------------


def test_psk_added_in_the_page_lets_a_dtls_device_register(page: Page, env: Env) -> None:
    key = "00112233445566778899aabbccddeeff"
    page.goto(env.url("/security"))
    page.fill("#psk-endpoint", "ui-dtls")
    page.fill("#psk-identity", "ui-dtls-identity")
    page.fill("#psk-key", "0011zz")
    page.click("#psk-add")
    expect(page.locator("#psk-status")).to_contain_text("Key not sent: malformed hex")
    assert get_json(f"{env.server.http}/api/security/clients") == []

    page.fill("#psk-key", key)
    page.click("#psk-add")
    expect(page.locator("#psk-status")).to_contain_text("PSK of ui-dtls stored")
    expect(page.locator('#security-table tr[data-endpoint="ui-dtls"]')).to_contain_text(
        "ui-dtls-identity"
    )
    assert get_json(f"{env.server.http}/api/security/clients") == [
        {
            "endpoint": "ui-dtls",
            "tls": {"mode": "psk", "details": {"identity": "ui-dtls-identity", "key": key}},
        }
    ]

    async def dtls_device() -> lwm2m.Client:
        client = lwm2m.Client(endpoint="ui-dtls")
        client.add_server(
            env.server.coaps_uri,
            short_server_id=101,
            lifetime=60,
            psk_identity="ui-dtls-identity",
            psk_key=bytes.fromhex(key),
        )
        Device(client.store, manufacturer="ACME", model="M1", serial="0001")
        await client.start()
        await client.wait_for(lwm2m.RdEvent.REGISTRATION_COMPLETE, timeout=10)
        return client

    page.goto(env.url())
    client = env.stack.call(dtls_device())
    row = page.locator('#device-table tr[data-endpoint="ui-dtls"]')
    try:
        expect(row.locator(".secure")).to_have_text("DTLS")
    finally:
        env.stack.call(client.stop(deregister=True))
    expect(row).to_have_count(0)

    page.goto(env.url("/security"))
    page.locator('#security-table tr[data-endpoint="ui-dtls"] button.delete').click()
    expect(page.locator("#psk-status")).to_contain_text("Credential of ui-dtls removed")
    expect(page.locator('#security-table tr[data-endpoint="ui-dtls"]')).to_have_count(0)
    assert get_json(f"{env.server.http}/api/security/clients") == []


# --- authentication ----------------------------------------------------------------------


def test_page_asks_for_the_token_and_keeps_it_for_the_tab(page: Page, env: Env) -> None:
    token = "ui-secret-token"
    guarded = env.stack.call(start_server(token=token))
    try:
        with urllib.request.urlopen(f"{guarded.http}/", timeout=5) as response:
            assert response.status == 200  # the page holds no data: no token needed
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{guarded.http}/api/clients", timeout=5)
        assert refused.value.code == 401

        page.goto(f"{guarded.http}/")
        dialog = page.locator("#token-dialog")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("authentication required")
        page.fill("#token-input", "wrong")
        page.click("#token-submit")
        expect(page.locator("#token-reason")).to_contain_text(
            "The token was refused (invalid token)"
        )
        page.fill("#token-input", token)
        page.click("#token-submit")
        expect(dialog).to_have_count(0)
        expect(page.locator("#device-table")).to_contain_text("No device is registered.")
        assert page.evaluate("sessionStorage.getItem('lwm2m.apiToken')") == token
        expect(page.locator("#conn")).to_have_text("live")  # EventSource with ?access_token=

        late = env.stack.call(start_device("ui-guarded", guarded.coap_uri, env.tmp / "fw-g"))
        try:
            expect(page.locator('#device-table tr[data-endpoint="ui-guarded"]')).to_be_visible()
            page.reload()  # the token stays for the tab: no second prompt
            expect(page.locator('#device-table tr[data-endpoint="ui-guarded"]')).to_be_visible()
            expect(page.locator("#token-dialog")).to_have_count(0)
        finally:
            env.stack.call(stop_device(late))
    finally:
        env.stack.call(guarded.close())
