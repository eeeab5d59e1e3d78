"""Holds an fcntl lock on the state file's sidecar `<state>.lock` for the daemon.

argv: LOCK_PATH OWNER_JSON. Prints one JSON line: {"locked": true} once the
lock is held, or {"locked": false, "holder": <what the holder wrote>} when
another process holds it. While locked it blocks on stdin: the daemon keeps
that pipe open, so the lock dies with the daemon however the daemon ends
(the kernel closes the pipe, this process reads EOF and exits, the kernel
drops the lock).
"""
import errno
import fcntl
import json
import os
import signal
import sys


def main():
    # A Ctrl-C or a stop signal sent to the daemon's group must not drop the
    # lock while the daemon is still committing: only EOF on stdin ends it.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    path, owner = sys.argv[1], sys.argv[2]
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno not in (errno.EACCES, errno.EAGAIN):
            raise
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 4096).decode("utf-8", "replace")
        try:
            holder = json.loads(text)
        except ValueError:
            holder = None
        sys.stdout.write(json.dumps({"locked": False, "holder": holder}) + "\n")
        sys.stdout.flush()
        return 0
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, owner.encode("utf-8"))
    os.fsync(fd)
    sys.stdout.write(json.dumps({"locked": True}) + "\n")
    sys.stdout.flush()
    while sys.stdin.buffer.read(65536):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
