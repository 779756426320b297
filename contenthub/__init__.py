"""ContentHub: the right content, to the right user or group, on the right channel, at the right time."""

__version__ = "0.1.0"
