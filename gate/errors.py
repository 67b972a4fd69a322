"""Errors raised by the gate.

GateError
├── CameraUnavailable   the frame source cannot be opened or stopped delivering
└── ActuatorError       the door could not be driven
"""


class GateError(Exception):
    """Base class of every gate error."""


class CameraUnavailable(GateError):
    """The frame source cannot be opened or read."""


class ActuatorError(GateError):
    """The door actuator failed."""
