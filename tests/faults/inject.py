"""Run the vadtool CLI with one fault at an exact point, found by a Python audit hook:

    python inject.py EVENT PATTERN ACTION -- [vadtool arguments...]

EVENT is an audit event: "open" (a file opened for writing), "os.mkdir", "os.rename"
(os.rename and os.replace; PATTERN matches the source) or "socket.connect" (PATTERN
matches "HOST:PORT"). PATTERN is an fnmatch pattern on the full path. ACTION is a signal
name (SIGTERM, SIGHUP, SIGINT, SIGKILL: sent to this process once, the first time the
event matches) or ENOSPC (that open fails as on a full disk).

The hook only chooses the moment; what happens next is the real CLI's handling of a real
signal or OSError. A test helper, never imported by vadtool.
"""

import errno
import fnmatch
import os
import signal
import sys

event, pattern, action = sys.argv[1:4]
assert sys.argv[4] == "--"
sys.argv = ["vadtool", *sys.argv[5:]]
fired = False


def _writing(args) -> bool:
    mode, flags = args[1], args[2]
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))


def _subject(name, args):
    if name != event:
        return None
    if name == "open":
        return os.fsdecode(args[0]) if isinstance(args[0], (str, bytes, os.PathLike)) and _writing(args) else None
    if name in ("os.mkdir", "os.rename"):
        return os.fsdecode(args[0])
    if name == "socket.connect":
        address = args[1]
        return f"{address[0]}:{address[1]}" if isinstance(address, tuple) else None
    return None


def hook(name, args):
    global fired
    if fired:
        return
    subject = _subject(name, args)
    if subject is None or not fnmatch.fnmatch(subject, pattern):
        return
    fired = True
    if action == "ENOSPC":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), subject)
    os.kill(os.getpid(), getattr(signal, action))


sys.addaudithook(hook)
from vadtool.cli import main  # noqa: E402  (after the hook: imports see it too)

sys.exit(main())
