from __future__ import annotations

import pytest

from lwm2m.client.attributes import AttributeStore, AttributeUpdate
from lwm2m.client.execute import parse_execute_args
from lwm2m.errors import BadRequest
from lwm2m.model import Path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("0", {0: None}),
        ("0='a',1", {0: "a", 1: None}),
        ("5='',9='x,y'", {5: "", 9: "x,y"}),
    ],
)
def test_execute_args_good(text: str, expected: dict[int, str | None]) -> None:
    assert parse_execute_args(text) == expected


@pytest.mark.parametrize("text", ["a", "0,", "0=a", "0='a", "0,0", "10", "0='a'x", ",", "0;1"])
def test_execute_args_bad(text: str) -> None:
    with pytest.raises(BadRequest):
        parse_execute_args(text)


def test_attribute_parse_and_apply() -> None:
    store = AttributeStore()
    p = Path(3303, 0, 5700)
    store.apply(p, AttributeUpdate.parse(["pmin=10", "pmax=60", "gt=30.5", "lt=10", "st=2"], p))
    assert store.get(p) == {"pmin": 10, "pmax": 60, "gt": 30.5, "lt": 10, "st": 2}
    store.apply(p, AttributeUpdate.parse(["st"], p))
    assert "st" not in store.get(p)
    store.apply(Path(3303), AttributeUpdate.parse(["pmax=300"], Path(3303)))
    assert store.effective(p, {"pmin": 1, "pmax": 600})["pmax"] == 60
    assert store.effective(Path(3303, 0, 5701), {"pmin": 1, "pmax": 600}) == {
        "pmin": 1,
        "pmax": 300,
    }


@pytest.mark.parametrize(
    ("queries", "path"),
    [
        (["pmin=abc"], Path(3, 0, 9)),
        (["foo=1"], Path(3, 0, 9)),
        (["gt=5"], Path(3, 0)),  # gt only on resources
        (["pmin=-1"], Path(3, 0, 9)),
        (["gt=nan"], Path(3, 0, 9)),
        (["pmin=1", "pmin=2"], Path(3, 0, 9)),
        (["pmin=1"], Path()),
    ],
)
def test_attribute_parse_rejects(queries: list[str], path: Path) -> None:
    with pytest.raises(BadRequest):
        AttributeUpdate.parse(queries, path)


@pytest.mark.parametrize(
    "queries",
    [["pmin=10", "pmax=5"], ["lt=10", "gt=5"], ["lt=1", "gt=5", "st=2"], ["st=0"]],
)
def test_attribute_consistency_rules_leave_store_unchanged(queries: list[str]) -> None:
    store = AttributeStore()
    p = Path(3, 0, 9)
    store.apply(p, AttributeUpdate.parse(["pmin=1"], p))
    with pytest.raises(BadRequest):
        store.apply(p, AttributeUpdate.parse(queries, p))
    assert store.get(p) == {"pmin": 1}
