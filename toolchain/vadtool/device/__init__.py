"""Talking to a device: protocol (the one definition of the wire format), transport
(serial ports, socket:// and host: programs), client (HELLO / load / infer with named
timeouts), emulator (QEMU for the emulated boards) and flash (flashers and the hash check)."""
