"""Path parsing, levels, relations and ordering."""

from __future__ import annotations

import pytest

from lwm2m.errors import ModelError
from lwm2m.model import MAX_ID, ROOT, Path


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("/", ()),
        ("", ()),
        ("  /  ", ()),
        ("3", (3,)),
        ("/3", (3,)),
        ("/3/", (3,)),
        ("3/0", (3, 0)),
        ("/3/0/0", (3, 0, 0)),
        ("/3/0/11/2", (3, 0, 11, 2)),
        ("/0", (0,)),
        ("/65534/65534/65534/65534", (65534, 65534, 65534, 65534)),
        (" /3303/0/5700 ", (3303, 0, 5700)),
    ],
)
def test_parse_good_paths(text: str, ids: tuple[int, ...]) -> None:
    p = Path.parse(text)
    assert tuple(p) == ids
    assert p == Path(*ids)
    assert isinstance(p, Path)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("/3//0", "not a decimal id"),
        ("/a", "not a decimal id"),
        ("/3/-1", "not a decimal id"),
        ("/+3", "not a decimal id"),
        ("/3/0x1", "not a decimal id"),
        ("/3 /0", "not a decimal id"),
        ("/\u0663", "not a decimal id"),  # ARABIC-INDIC DIGIT THREE is not ASCII
        ("/03", "leading zero"),
        ("/3/00", "leading zero"),
        ("/65535", "out of range"),
        ("/3/0/70000", "out of range"),
        ("/1/2/3/4/5", "at most 4"),
    ],
)
def test_parse_bad_paths(text: str, fragment: str) -> None:
    with pytest.raises(ModelError, match="invalid path") as info:
        Path.parse(text)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "/123456",  # six digits cannot be an id
        "/3/0/" + "9" * 4301,  # int() refuses more than 4300 digits with its own ValueError
        "/" + "1" * 1_000_000,
        "/3/" + "0" * 4301,  # leading zeros
        "/3/0/" + "0" * 5 + "1",
    ],
)
def test_parse_refuses_long_ids_with_model_error(text: str) -> None:
    with pytest.raises(ModelError, match=r"invalid path '.*'") as info:
        Path.parse(text)
    message = str(info.value)
    assert len(message) < 200  # the path is quoted cut short
    assert "level" in message


def test_parse_refuses_many_levels_without_looking_at_them() -> None:
    with pytest.raises(ModelError, match="at most 4"):
        Path.parse("/1" * 1_000_000)
    with pytest.raises(ModelError, match="at most 4"):
        Path.parse("/1/2/3/4/" + "x" * 10)


def test_parse_names_the_bad_level() -> None:
    with pytest.raises(ModelError, match=r"'x' \(level 3\) is not a decimal id"):
        Path.parse("/3/0/x")
    with pytest.raises(ModelError, match=r"id of 7 digits \(level 2\) out of range"):
        Path.parse("/3/1234567")


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(ModelError, match="must be a string"):
        Path.parse(3)  # type: ignore[arg-type]


def test_parse_returns_paths_unchanged() -> None:
    p = Path(3, 0)
    assert Path.parse(p) is p


def test_constructor_checks_ids() -> None:
    assert Path(MAX_ID) == (65534,)
    with pytest.raises(ModelError, match="65535"):
        Path(65535)
    with pytest.raises(ModelError, match="out of range"):
        Path(3, -1)
    with pytest.raises(ModelError, match="5 levels"):
        Path(1, 2, 3, 4, 5)


def test_from_segments() -> None:
    assert Path.from_segments(["3", "0", "1"]) == Path(3, 0, 1)
    assert Path.from_segments([]) == ROOT
    with pytest.raises(ModelError):
        Path.from_segments(["3", "x"])


def test_levels_and_accessors() -> None:
    expectations = [
        (ROOT, 0, "root", (None, None, None, None)),
        (Path(3), 1, "object", (3, None, None, None)),
        (Path(3, 0), 2, "object instance", (3, 0, None, None)),
        (Path(3, 0, 11), 3, "resource", (3, 0, 11, None)),
        (Path(3, 0, 11, 2), 4, "resource instance", (3, 0, 11, 2)),
    ]
    for p, level, name, ids in expectations:
        assert p.level == level
        assert p.level_name == name
        assert (p.object_id, p.instance_id, p.resource_id, p.resource_instance_id) == ids
        flags = (p.is_root, p.is_object, p.is_instance, p.is_resource, p.is_resource_instance)
        assert flags == tuple(i == level for i in range(5))


def test_str_repr_and_segments() -> None:
    assert str(ROOT) == "/"
    assert str(Path(3, 0, 1)) == "/3/0/1"
    assert repr(Path(3, 0)) == "Path('/3/0')"
    assert Path(3, 0, 1).segments() == ["3", "0", "1"]
    assert ROOT.segments() == []
    assert Path.parse(str(Path(5, 0, 3))) == Path(5, 0, 3)


def test_child_and_parent() -> None:
    assert Path(3).child(0) == Path(3, 0)
    assert Path(3, 0, 1).parent == Path(3, 0)
    assert Path(3).parent == ROOT
    assert isinstance(Path(3, 0).parent, Path)
    with pytest.raises(ModelError, match="no parent"):
        _ = ROOT.parent
    with pytest.raises(ModelError):
        Path(1, 2, 3, 4).child(5)
    with pytest.raises(ModelError):
        Path(3).child(65535)


def test_prefix_relations() -> None:
    assert ROOT.is_prefix_of(Path(3, 0))
    assert Path(3).is_prefix_of(Path(3))
    assert Path(3).is_prefix_of(Path(3, 0, 1))
    assert not Path(3, 0).is_prefix_of(Path(3))
    assert not Path(3, 1).is_prefix_of(Path(3, 0, 1))
    assert not Path(33).is_prefix_of(Path(3, 3))
    assert Path(3, 0, 1).startswith(Path(3, 0))
    assert not Path(3, 0, 1).startswith(Path(4))
    assert Path(3, 0, 11, 2).relative_to(Path(3, 0)) == (11, 2)
    assert Path(3, 0).relative_to(Path(3, 0)) == ()
    with pytest.raises(ModelError, match="not below"):
        Path(3, 0).relative_to(Path(4))


def test_ordering_is_depth_first() -> None:
    shuffled = [
        Path(4),
        Path(3, 1),
        ROOT,
        Path(3, 0, 0),
        Path(3),
        Path(3, 0),
        Path(10),
        Path(3, 0, 0, 1),
    ]
    assert sorted(shuffled) == [
        ROOT,
        Path(3),
        Path(3, 0),
        Path(3, 0, 0),
        Path(3, 0, 0, 1),
        Path(3, 1),
        Path(4),
        Path(10),
    ]


def test_paths_hash_like_tuples() -> None:
    d = {Path(3, 0): "device"}
    assert d[Path.parse("/3/0")] == "device"
    assert Path(3, 0) == (3, 0)
    assert hash(Path(3, 0)) == hash((3, 0))
