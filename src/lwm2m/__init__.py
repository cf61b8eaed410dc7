"""lwm2m: an OMA Lightweight M2M stack in Python."""

from lwm2m.errors import DecodeError, EncodeError, Lwm2mError, ModelError, UnsupportedFormat

__all__ = ["DecodeError", "EncodeError", "Lwm2mError", "ModelError", "UnsupportedFormat"]
__version__ = "0.1.0"
