"""OMA core objects 0-7 (LwM2M Core TS Appendix E and the OMA LwM2M registry).

Rows: ``(id, name, ops, multiple, mandatory, type, range, units)``.
"""

from __future__ import annotations

from lwm2m.model.builtin._table import MAND, MULTI, OPT, SINGLE, ObjectSpec

# Security Object, version 1.1 (LwM2M 1.1). The resources carry no operations:
# only a Bootstrap-Server may access them (Core TS E.1). The 1.1.1 file lists
# units "s" for Matching Type and Certificate Usage by mistake; they have none.
SECURITY = ObjectSpec(
    id=0,
    name="LWM2M Security",
    multiple=MULTI,
    mandatory=MAND,
    version="1.1",
    lwm2m_version="1.1",
    rows=(
        (0, "LWM2M Server URI", "", SINGLE, MAND, "String", "0..255", ""),
        (1, "Bootstrap-Server", "", SINGLE, MAND, "Boolean", "", ""),
        (2, "Security Mode", "", SINGLE, MAND, "Integer", "0..4", ""),
        (3, "Public Key or Identity", "", SINGLE, MAND, "Opaque", "", ""),
        (4, "Server Public Key", "", SINGLE, MAND, "Opaque", "", ""),
        (5, "Secret Key", "", SINGLE, MAND, "Opaque", "", ""),
        (6, "SMS Security Mode", "", SINGLE, OPT, "Integer", "0..255", ""),
        (7, "SMS Binding Key Parameters", "", SINGLE, OPT, "Opaque", "6", ""),
        (8, "SMS Binding Secret Key(s)", "", SINGLE, OPT, "Opaque", "16,32,48", ""),
        (9, "LwM2M Server SMS Number", "", SINGLE, OPT, "String", "", ""),
        (10, "Short Server ID", "", SINGLE, OPT, "Integer", "1..65534", ""),
        (11, "Client Hold Off Time", "", SINGLE, OPT, "Integer", "", "s"),
        (12, "Bootstrap-Server Account Timeout", "", SINGLE, OPT, "Integer", "", "s"),
        (13, "Matching Type", "", SINGLE, OPT, "Unsigned Integer", "0..3", ""),
        (14, "SNI", "", SINGLE, OPT, "String", "", ""),
        (15, "Certificate Usage", "", SINGLE, OPT, "Integer", "0..3", ""),
        (16, "DTLS/TLS Ciphersuite", "", MULTI, OPT, "Integer", "", ""),
        (17, "OSCORE Security Mode", "", SINGLE, OPT, "Objlnk", "", ""),
    ),
    description="Keying material of the client for one LwM2M Server or Bootstrap-Server.",
)

# Server Object, version 1.1 (LwM2M 1.1): resources 0-23.
SERVER = ObjectSpec(
    id=1,
    name="LwM2M Server",
    multiple=MULTI,
    mandatory=MAND,
    version="1.1",
    lwm2m_version="1.1",
    rows=(
        (0, "Short Server ID", "R", SINGLE, MAND, "Integer", "1..65534", ""),
        (1, "Lifetime", "RW", SINGLE, MAND, "Integer", "", "s"),
        (2, "Default Minimum Period", "RW", SINGLE, OPT, "Integer", "", "s"),
        (3, "Default Maximum Period", "RW", SINGLE, OPT, "Integer", "", "s"),
        (4, "Disable", "E", SINGLE, OPT, "", "", ""),
        (5, "Disable Timeout", "RW", SINGLE, OPT, "Integer", "", "s"),
        (6, "Notification Storing When Disabled or Offline", "RW", SINGLE, MAND, "Boolean", "", ""),
        (7, "Binding", "RW", SINGLE, MAND, "String", "", ""),
        (8, "Registration Update Trigger", "E", SINGLE, MAND, "", "", ""),
        (9, "Bootstrap-Request Trigger", "E", SINGLE, OPT, "", "", ""),
        (10, "APN Link", "RW", SINGLE, OPT, "Objlnk", "", ""),
        (11, "TLS-DTLS Alert Code", "R", SINGLE, OPT, "Unsigned Integer", "0..255", ""),
        (12, "Last Bootstrapped", "R", SINGLE, OPT, "Time", "", ""),
        (13, "Registration Priority Order", "R", SINGLE, OPT, "Unsigned Integer", "", ""),
        (14, "Initial Registration Delay Timer", "RW", SINGLE, OPT, "Unsigned Integer", "", "s"),
        (15, "Registration Failure Block", "R", SINGLE, OPT, "Boolean", "", ""),
        (16, "Bootstrap on Registration Failure", "R", SINGLE, OPT, "Boolean", "", ""),
        (17, "Communication Retry Count", "RW", SINGLE, OPT, "Unsigned Integer", "", ""),
        (18, "Communication Retry Timer", "RW", SINGLE, OPT, "Unsigned Integer", "", "s"),
        (19, "Communication Sequence Delay Timer", "RW", SINGLE, OPT, "Unsigned Integer", "", "s"),
        (20, "Communication Sequence Retry Count", "RW", SINGLE, OPT, "Unsigned Integer", "", ""),
        (21, "Trigger", "RW", SINGLE, OPT, "Boolean", "", ""),
        (22, "Preferred Transport", "RW", SINGLE, OPT, "String", "", ""),
        (23, "Mute Send", "RW", SINGLE, OPT, "Boolean", "", ""),
    ),
    description="Data related to one LwM2M Server account (none for a Bootstrap-Server).",
)

# Access Control Object, version 1.1. ACL bits: R, W, E, D, C from the LSB (Core TS E.3).
ACCESS_CONTROL = ObjectSpec(
    id=2,
    name="LwM2M Access Control",
    multiple=MULTI,
    mandatory=OPT,
    version="1.1",
    lwm2m_version="1.0",
    rows=(
        (0, "Object ID", "R", SINGLE, MAND, "Integer", "1..65534", ""),
        (1, "Object Instance ID", "R", SINGLE, MAND, "Integer", "0..65535", ""),
        (2, "ACL", "RW", MULTI, OPT, "Integer", "0..31", ""),
        (3, "Access Control Owner", "RW", SINGLE, MAND, "Integer", "0..65535", ""),
    ),
    description="Access rights of LwM2M Servers to one object instance.",
)

# Device Object, version 1.1 (LwM2M 1.1): resources 0-22.
DEVICE = ObjectSpec(
    id=3,
    name="Device",
    multiple=SINGLE,
    mandatory=MAND,
    version="1.1",
    lwm2m_version="1.1",
    rows=(
        (0, "Manufacturer", "R", SINGLE, OPT, "String", "", ""),
        (1, "Model Number", "R", SINGLE, OPT, "String", "", ""),
        (2, "Serial Number", "R", SINGLE, OPT, "String", "", ""),
        (3, "Firmware Version", "R", SINGLE, OPT, "String", "", ""),
        (4, "Reboot", "E", SINGLE, MAND, "", "", ""),
        (5, "Factory Reset", "E", SINGLE, OPT, "", "", ""),
        (6, "Available Power Sources", "R", MULTI, OPT, "Integer", "0..7", ""),
        (7, "Power Source Voltage", "R", MULTI, OPT, "Integer", "", "mV"),
        (8, "Power Source Current", "R", MULTI, OPT, "Integer", "", "mA"),
        (9, "Battery Level", "R", SINGLE, OPT, "Integer", "0..100", "%"),
        (10, "Memory Free", "R", SINGLE, OPT, "Integer", "", "KiB"),
        (11, "Error Code", "R", MULTI, MAND, "Integer", "0..8", ""),
        (12, "Reset Error Code", "E", SINGLE, OPT, "", "", ""),
        (13, "Current Time", "RW", SINGLE, OPT, "Time", "", ""),
        (14, "UTC Offset", "RW", SINGLE, OPT, "String", "", ""),
        (15, "Timezone", "RW", SINGLE, OPT, "String", "", ""),
        (16, "Supported Binding and Modes", "R", SINGLE, MAND, "String", "", ""),
        (17, "Device Type", "R", SINGLE, OPT, "String", "", ""),
        (18, "Hardware Version", "R", SINGLE, OPT, "String", "", ""),
        (19, "Software Version", "R", SINGLE, OPT, "String", "", ""),
        (20, "Battery Status", "R", SINGLE, OPT, "Integer", "0..6", ""),
        (21, "Memory Total", "R", SINGLE, OPT, "Integer", "", "KiB"),
        (22, "ExtDevInfo", "R", MULTI, OPT, "Objlnk", "", ""),
    ),
    description="Device information, reboot and factory reset.",
)

# Connectivity Monitoring Object, version 1.3 of the registry (LwM2M 1.1).
CONNECTIVITY_MONITORING = ObjectSpec(
    id=4,
    name="Connectivity Monitoring",
    multiple=SINGLE,
    mandatory=OPT,
    version="1.3",
    lwm2m_version="1.1",
    rows=(
        (0, "Network Bearer", "R", SINGLE, MAND, "Integer", "0..50", ""),
        (1, "Available Network Bearer", "R", MULTI, MAND, "Integer", "0..50", ""),
        (2, "Radio Signal Strength", "R", SINGLE, MAND, "Integer", "", "dBm"),
        (3, "Link Quality", "R", SINGLE, OPT, "Integer", "", ""),
        (4, "IP Addresses", "R", MULTI, MAND, "String", "", ""),
        (5, "Router IP Addresses", "R", MULTI, OPT, "String", "", ""),
        (6, "Link Utilization", "R", SINGLE, OPT, "Integer", "0..100", "/100"),
        (7, "APN", "R", MULTI, OPT, "String", "", ""),
        (8, "Cell ID", "R", SINGLE, OPT, "Integer", "", ""),
        (9, "SMNC", "R", SINGLE, OPT, "Integer", "0..999", ""),
        (10, "SMCC", "R", SINGLE, OPT, "Integer", "0..999", ""),
        (11, "SignalSNR", "R", SINGLE, OPT, "Integer", "", "dB"),
        (12, "LAC", "R", SINGLE, OPT, "Integer", "", ""),
        (13, "Coverage Enhancement Level", "R", SINGLE, OPT, "Integer", "0..4", ""),
    ),
    description="Parameters of the current network connection.",
)

# Firmware Update Object, version 1.1 (LwM2M 1.1): resources 0-13; id 4 is unused.
FIRMWARE_UPDATE = ObjectSpec(
    id=5,
    name="Firmware Update",
    multiple=SINGLE,
    mandatory=OPT,
    version="1.1",
    lwm2m_version="1.1",
    rows=(
        (0, "Package", "W", SINGLE, MAND, "Opaque", "", ""),
        (1, "Package URI", "RW", SINGLE, MAND, "String", "0..255", ""),
        (2, "Update", "E", SINGLE, MAND, "", "", ""),
        (3, "State", "R", SINGLE, MAND, "Integer", "0..3", ""),
        (5, "Update Result", "R", SINGLE, MAND, "Integer", "0..11", ""),
        (6, "PkgName", "R", SINGLE, OPT, "String", "0..255", ""),
        (7, "PkgVersion", "R", SINGLE, OPT, "String", "0..255", ""),
        (8, "Firmware Update Protocol Support", "R", MULTI, OPT, "Integer", "0..5", ""),
        (9, "Firmware Update Delivery Method", "R", SINGLE, MAND, "Integer", "0..2", ""),
        (10, "Cancel", "E", SINGLE, OPT, "", "", ""),
        (11, "Severity", "RW", SINGLE, OPT, "Integer", "0..2", ""),
        (12, "Last State Change Time", "R", SINGLE, OPT, "Time", "", ""),
        (13, "Maximum Defer Period", "RW", SINGLE, OPT, "Unsigned Integer", "", "s"),
    ),
    description="Firmware download (push or pull) and update.",
)

# Location Object, version 1.0.
LOCATION = ObjectSpec(
    id=6,
    name="Location",
    multiple=SINGLE,
    mandatory=OPT,
    version="1.0",
    lwm2m_version="1.0",
    rows=(
        (0, "Latitude", "R", SINGLE, MAND, "Float", "", "lat"),
        (1, "Longitude", "R", SINGLE, MAND, "Float", "", "lon"),
        (2, "Altitude", "R", SINGLE, OPT, "Float", "", "m"),
        (3, "Radius", "R", SINGLE, OPT, "Float", "", "m"),
        (4, "Velocity", "R", SINGLE, OPT, "Opaque", "", ""),
        (5, "Timestamp", "R", SINGLE, MAND, "Time", "", ""),
        (6, "Speed", "R", SINGLE, OPT, "Float", "", "m/s"),
    ),
    description="Location telemetry of the device (WGS 84).",
)

# Connectivity Statistics Object, version 1.0.
CONNECTIVITY_STATISTICS = ObjectSpec(
    id=7,
    name="Connectivity Statistics",
    multiple=SINGLE,
    mandatory=OPT,
    version="1.0",
    lwm2m_version="1.0",
    rows=(
        (0, "SMS Tx Counter", "R", SINGLE, OPT, "Integer", "", ""),
        (1, "SMS Rx Counter", "R", SINGLE, OPT, "Integer", "", ""),
        (2, "Tx Data", "R", SINGLE, OPT, "Integer", "", "KiB"),
        (3, "Rx Data", "R", SINGLE, OPT, "Integer", "", "KiB"),
        (4, "Max Message Size", "R", SINGLE, OPT, "Integer", "", "B"),
        (5, "Average Message Size", "R", SINGLE, OPT, "Integer", "", "B"),
        (6, "Start", "E", SINGLE, MAND, "", "", ""),
        (7, "Stop", "E", SINGLE, MAND, "", "", ""),
        (8, "Collection Period", "RW", SINGLE, OPT, "Integer", "", "s"),
    ),
    description="Traffic counters over a collection period.",
)

CORE_OBJECTS: tuple[ObjectSpec, ...] = (
    SECURITY,
    SERVER,
    ACCESS_CONTROL,
    DEVICE,
    CONNECTIVITY_MONITORING,
    FIRMWARE_UPDATE,
    LOCATION,
    CONNECTIVITY_STATISTICS,
)

# --------------------------------------------------------------------------- LwM2M 1.0
# The LwM2M 1.0 definitions of the core objects whose later versions differ, from the
# OMA 1.0 object tables (LwM2M TS 1.0 Appendix E, OMA-SUP-XML_LWM2M_*-V1_0). A client
# registered as LwM2M 1.0 describes its objects with these; a server decodes a 1.0
# client's content and answers /api/objectspecs/{ep} with them. Objects 6 and 7 did not
# change. Ranges are written in the 1.1 "a..b" spelling.

# Security 1.0: resources 0-12 (no SNI, Certificate Usage, cipher suites, OSCORE).
SECURITY_1_0 = ObjectSpec(
    id=0,
    name="LWM2M Security",
    multiple=MULTI,
    mandatory=MAND,
    version="1.0",
    lwm2m_version="1.0",
    rows=SECURITY.rows[:13],
    description=SECURITY.description,
)

# Server 1.0: resources 0-8; Short Server ID 1..65535.
SERVER_1_0 = ObjectSpec(
    id=1,
    name="LwM2M Server",
    multiple=MULTI,
    mandatory=MAND,
    version="1.0",
    lwm2m_version="1.0",
    rows=(
        (0, "Short Server ID", "R", SINGLE, MAND, "Integer", "1..65535", ""),
        *SERVER.rows[1:9],
    ),
    description=SERVER.description,
)

# Access Control 1.0: ACL values are 16-bit.
ACCESS_CONTROL_1_0 = ObjectSpec(
    id=2,
    name="LwM2M Access Control",
    multiple=MULTI,
    mandatory=OPT,
    version="1.0",
    lwm2m_version="1.0",
    rows=(
        *ACCESS_CONTROL.rows[:2],
        (2, "ACL", "RW", MULTI, OPT, "Integer", "0..65535", ""),
        ACCESS_CONTROL.rows[3],
    ),
    description=ACCESS_CONTROL.description,
)

# Device 1.0: the same resources 0-22; memory units in KB, Memory Total without units.
DEVICE_1_0 = ObjectSpec(
    id=3,
    name="Device",
    multiple=SINGLE,
    mandatory=MAND,
    version="1.0",
    lwm2m_version="1.0",
    rows=(
        *DEVICE.rows[:10],
        (10, "Memory Free", "R", SINGLE, OPT, "Integer", "", "KB"),
        *DEVICE.rows[11:21],
        (21, "Memory Total", "R", SINGLE, OPT, "Integer", "", ""),
        DEVICE.rows[22],
    ),
    description=DEVICE.description,
)

# Connectivity Monitoring 1.0: resources 0-10, without the later ranges.
CONNECTIVITY_MONITORING_1_0 = ObjectSpec(
    id=4,
    name="Connectivity Monitoring",
    multiple=SINGLE,
    mandatory=OPT,
    version="1.0",
    lwm2m_version="1.0",
    rows=(
        (0, "Network Bearer", "R", SINGLE, MAND, "Integer", "", ""),
        (1, "Available Network Bearer", "R", MULTI, MAND, "Integer", "", ""),
        (2, "Radio Signal Strength", "R", SINGLE, MAND, "Integer", "", "dBm"),
        (3, "Link Quality", "R", SINGLE, OPT, "Integer", "", ""),
        (4, "IP Addresses", "R", MULTI, MAND, "String", "", ""),
        (5, "Router IP Addresses", "R", MULTI, OPT, "String", "", ""),
        (6, "Link Utilization", "R", SINGLE, OPT, "Integer", "0..100", "%"),
        (7, "APN", "R", MULTI, OPT, "String", "", ""),
        (8, "Cell ID", "R", SINGLE, OPT, "Integer", "", ""),
        (9, "SMNC", "R", SINGLE, OPT, "Integer", "", ""),
        (10, "SMCC", "R", SINGLE, OPT, "Integer", "", ""),
    ),
    description=CONNECTIVITY_MONITORING.description,
)

# Firmware Update 1.0: resources 0-9 (no Cancel, Severity, Last State Change Time,
# Maximum Defer Period); Update Result 0..9.
FIRMWARE_UPDATE_1_0 = ObjectSpec(
    id=5,
    name="Firmware Update",
    multiple=SINGLE,
    mandatory=OPT,
    version="1.0",
    lwm2m_version="1.0",
    rows=(
        *FIRMWARE_UPDATE.rows[:4],
        (5, "Update Result", "R", SINGLE, MAND, "Integer", "0..9", ""),
        *FIRMWARE_UPDATE.rows[5:7],
        (8, "Firmware Update Protocol Support", "R", MULTI, OPT, "Integer", "", ""),
        (9, "Firmware Update Delivery Method", "R", SINGLE, MAND, "Integer", "", ""),
    ),
    description=FIRMWARE_UPDATE.description,
)

#: Earlier versions of the core objects, kept beside the current ones by the registry.
CORE_OLDER_VERSIONS: tuple[ObjectSpec, ...] = (
    SECURITY_1_0,
    SERVER_1_0,
    ACCESS_CONTROL_1_0,
    DEVICE_1_0,
    CONNECTIVITY_MONITORING_1_0,
    FIRMWARE_UPDATE_1_0,
)
