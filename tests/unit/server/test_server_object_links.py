"""The registration object-links list (Core TS 1.1 section 6.2.1)."""

from __future__ import annotations

import pytest

from lwm2m.errors import DecodeError
from lwm2m.model.path import Path
from lwm2m.server.object_links import parse_object_links


class TestObjectLinks:
    def test_objects_instances_versions_and_root(self) -> None:
        links = parse_object_links(
            b'</>;rt="oma.lwm2m";ct="60 110",</1/0>,</3/0>,</5>;ver=1.1,</3303/0>,</3303/1>'
        )
        assert links.root_path == "/"
        assert links.content_formats == (60, 110)
        assert links.objects == {1: None, 3: None, 5: "1.1", 3303: None}
        assert links.instances(3303) == (0, 1)
        assert links.instances(5) == ()
        assert links.supports(Path(3303, 0, 5700))
        assert not links.supports(Path(6))
        assert links.supports(Path())

    def test_object_version_given_beside_instances(self) -> None:
        links = parse_object_links('</3303/0>,</3303>;ver="2.2",</3303/1>')
        assert links.objects == {3303: "2.2"}
        assert links.instances(3303) == (0, 1)

    def test_alternate_path(self) -> None:
        links = parse_object_links('</lwm2m>;rt="oma.lwm2m",</lwm2m/1/0>,</lwm2m/3/0>')
        assert links.root_path == "/lwm2m"
        assert [link.path for link in links.links] == [Path(1, 0), Path(3, 0)]

    def test_root_without_rt_is_accepted(self) -> None:
        links = parse_object_links("</>;ct=110,</1/0>")
        assert links.content_formats == (110,)
        assert [link.path for link in links.links] == [Path(1, 0)]

    def test_text_is_kept(self) -> None:
        text = "</1/0>, </3/0>"
        assert parse_object_links(text.encode()).text == text

    @pytest.mark.parametrize(
        "payload",
        [
            b"</1/0/1>",  # resource: not allowed in the list
            b"</1/0/1/2>",
            b"</abc>",
            b"</1/x>",
            b"</65535/0>",  # reserved id
            b"</01/0>",  # leading zero
            b"<1/0>",  # not absolute
            b"</1/0/>",
            b'</lwm2m>;rt="oma.lwm2m",</1/0>',  # outside the alternate path
            b'</>;rt="oma.lwm2m",</x>;rt="oma.lwm2m"',  # two roots
            b"</>;ct=abc",
            b"</>;ct",
            b"</>;ct=70000",
            b"</5>;ver=1",
            b"</5>;ver=x.y",
            b"</5>;ver",
            b"\xff\xfe",
            b"</1/0>,garbage",
        ],
    )
    def test_invalid_lists(self, payload: bytes) -> None:
        with pytest.raises(DecodeError):
            parse_object_links(payload)


@pytest.mark.parametrize("ct", ["9" * 5000, "²", "1 " + "7" * 4400, "065536"])
def test_long_or_odd_content_formats_are_decode_errors(ct: str) -> None:
    with pytest.raises(DecodeError, match="invalid content format"):
        parse_object_links(f'</>;rt="oma.lwm2m";ct="{ct}",</3/0>')
