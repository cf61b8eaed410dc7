"""IPSO Smart Objects (OMA LwM2M registry, objects 3300-3347).

IPSO objects are built from reusable resources: :data:`RESOURCES` lists each
once as ``id -> (name, ops, multiple, type, range, units)``; an object names
its resources and whether each is mandatory in that object.
"""

from __future__ import annotations

from lwm2m.model.builtin._table import MAND, MULTI, OPT, SINGLE, ObjectSpec, Row

RESOURCES: dict[int, tuple[str, str, bool, str, str, str]] = {
    5500: ("Digital Input State", "R", SINGLE, "Boolean", "", ""),
    5501: ("Digital Input Counter", "R", SINGLE, "Integer", "", ""),
    5518: ("Timestamp", "R", SINGLE, "Time", "", ""),
    5521: ("Delay Duration", "RW", SINGLE, "Float", "", "s"),
    5523: ("Trigger", "E", SINGLE, "", "", ""),
    5525: ("Minimum Off-time", "RW", SINGLE, "Float", "", "s"),
    5526: ("Timer Mode", "RW", SINGLE, "Integer", "0..4", ""),
    5534: ("Counter", "RW", SINGLE, "Integer", "", ""),
    5538: ("Remaining Time", "R", SINGLE, "Float", "", "s"),
    5543: ("Digital State", "R", SINGLE, "Boolean", "", ""),
    5544: ("Cumulative Time", "RW", SINGLE, "Float", "", "s"),
    5548: ("Level", "RW", SINGLE, "Float", "0..100", "/100"),
    5601: ("Min Measured Value", "R", SINGLE, "Float", "", ""),
    5602: ("Max Measured Value", "R", SINGLE, "Float", "", ""),
    5603: ("Min Range Value", "R", SINGLE, "Float", "", ""),
    5604: ("Max Range Value", "R", SINGLE, "Float", "", ""),
    5605: ("Reset Min and Max Measured Values", "E", SINGLE, "", "", ""),
    5700: ("Sensor Value", "R", SINGLE, "Float", "", ""),
    5701: ("Sensor Units", "R", SINGLE, "String", "", ""),
    5702: ("X Value", "R", SINGLE, "Float", "", ""),
    5703: ("Y Value", "R", SINGLE, "Float", "", ""),
    5704: ("Z Value", "R", SINGLE, "Float", "", ""),
    5706: ("Colour", "RW", SINGLE, "String", "", ""),
    5750: ("Application Type", "RW", SINGLE, "String", "", ""),
    5751: ("Sensor Type", "R", SINGLE, "String", "", ""),
    5805: ("Cumulative active power", "R", SINGLE, "Float", "", "Wh"),
    5820: ("Power factor", "R", SINGLE, "Float", "", ""),
    5821: ("Current Calibration", "RW", SINGLE, "Float", "", ""),
    5850: ("On/Off", "RW", SINGLE, "Boolean", "", ""),
    5851: ("Dimmer", "RW", SINGLE, "Integer", "0..100", "/100"),
    5852: ("On time", "RW", SINGLE, "Integer", "", "s"),
    5854: ("Off Time", "RW", SINGLE, "Integer", "", "s"),
    6042: ("Measurement Quality Indicator", "R", SINGLE, "Integer", "0..23", ""),
    6049: ("Measurement Quality Level", "R", SINGLE, "Integer", "0..100", ""),
    6050: ("Fractional Timestamp", "R", SINGLE, "Float", "0..1", "s"),
}


def _rows(mandatory: tuple[int, ...], optional: tuple[int, ...]) -> tuple[Row, ...]:
    """Rows for the given reusable resources, mandatory ones first (registry order)."""
    out: list[Row] = []
    for ids, is_mandatory in ((mandatory, MAND), (optional, OPT)):
        for rid in ids:
            name, ops, multiple, rtype, range_text, units = RESOURCES[rid]
            out.append((rid, name, ops, multiple, is_mandatory, rtype, range_text, units))
    return tuple(out)


# Resources shared by the measuring sensors (version 1.1 of 3300/3303/3304/3323).
_SENSOR_OPTIONAL = (5701, 5601, 5602, 5603, 5604, 5605, 5750, 5518, 6050, 6042, 6049)


def _ipso(
    *,
    id: int,
    name: str,
    version: str,
    mandatory: tuple[int, ...],
    optional: tuple[int, ...],
    description: str,
) -> ObjectSpec:
    """An IPSO object: multiple instances, optional, LwM2M 1.0 (as the registry lists them)."""
    return ObjectSpec(
        id=id,
        name=name,
        multiple=MULTI,
        mandatory=OPT,
        version=version,
        lwm2m_version="1.0",
        rows=_rows(mandatory, optional),
        description=description,
    )


IPSO_OBJECTS: tuple[ObjectSpec, ...] = (
    _ipso(
        id=3300,
        name="Generic Sensor",
        version="1.1",
        mandatory=(5700,),
        optional=(*_SENSOR_OPTIONAL, 5751),
        description="A sensor value with its unit, for quantities without a dedicated object.",
    ),
    _ipso(
        id=3303,
        name="Temperature",
        version="1.1",
        mandatory=(5700,),
        optional=_SENSOR_OPTIONAL,
        description="A temperature measurement, e.g. in Cel.",
    ),
    _ipso(
        id=3304,
        name="Humidity",
        version="1.1",
        mandatory=(5700,),
        optional=_SENSOR_OPTIONAL,
        description="A relative humidity measurement, e.g. in %RH.",
    ),
    _ipso(
        id=3311,
        name="Light Control",
        version="1.0",
        mandatory=(5850,),
        optional=(5851, 5852, 5805, 5820, 5706, 5701, 5750),
        description="Switches and dims a light source.",
    ),
    _ipso(
        id=3313,
        name="Accelerometer",
        version="1.1",
        mandatory=(5702,),
        optional=(5703, 5704, 5701, 5603, 5604, 5750, 5518, 6050, 6042, 6049),
        description="A 1 to 3 axis accelerometer.",
    ),
    _ipso(
        id=3323,
        name="Pressure",
        version="1.1",
        mandatory=(5700,),
        optional=(5701, 5601, 5602, 5603, 5604, 5605, 5821, 5750, 5518, 6050, 6042, 6049),
        description="A pressure measurement, e.g. in Pa.",
    ),
    _ipso(
        id=3338,
        name="Buzzer",
        version="1.1",
        mandatory=(5850, 5525),
        optional=(5548, 5521, 5750, 5518, 6050),
        description="An audible alarm with level and duration.",
    ),
    _ipso(
        id=3340,
        name="Timer",
        version="1.0",
        mandatory=(5521,),
        optional=(5538, 5525, 5523, 5850, 5501, 5544, 5543, 5534, 5526, 5750),
        description="A timer with one-shot, interval and delay modes.",
    ),
    _ipso(
        id=3342,
        name="On/Off switch",
        version="1.1",
        mandatory=(5500,),
        optional=(5501, 5852, 5854, 5750, 5518, 6050),
        description="The state of an on/off switch.",
    ),
    _ipso(
        id=3347,
        name="Push button",
        version="1.1",
        mandatory=(5500,),
        optional=(5501, 5750, 5518, 6050),
        description="The state and press count of a momentary push button.",
    ),
)
