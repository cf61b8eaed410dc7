"""IPSO Smart Objects: sensors, light control, timer, switches and buzzer."""

from lwm2m.objects.ipso.buzzer import Buzzer
from lwm2m.objects.ipso.light_control import LightControl
from lwm2m.objects.ipso.sensors import (
    Accelerometer,
    GenericSensor,
    Humidity,
    Pressure,
    Sensor,
    Temperature,
)
from lwm2m.objects.ipso.switches import OnOffSwitch, PushButton
from lwm2m.objects.ipso.timer import Timer, TimerMode

__all__ = [
    "Accelerometer",
    "Buzzer",
    "GenericSensor",
    "Humidity",
    "LightControl",
    "OnOffSwitch",
    "Pressure",
    "PushButton",
    "Sensor",
    "Temperature",
    "Timer",
    "TimerMode",
]
