"""vadtool: visual anomaly detection for microcontrollers."""

__version__ = "0.1.0"
