"""Minimal inotify(7) through ctypes (Debian has no asyncinotify / inotify_simple packages)."""
import ctypes
import os
import struct

IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_Q_OVERFLOW = 0x00004000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

_libc = ctypes.CDLL(None, use_errno=True)
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len


def init(flags=IN_CLOEXEC):
    fd = _libc.inotify_init1(flags)
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return fd


def add_watch(fd, path, mask):
    wd = _libc.inotify_add_watch(fd, os.fsencode(path), ctypes.c_uint32(mask))
    if wd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return wd


def parse(buf):
    """Yields (wd, mask, cookie, name) for each event in a buffer read from the inotify fd."""
    pos = 0
    while pos + _EVENT.size <= len(buf):
        wd, mask, cookie, length = _EVENT.unpack_from(buf, pos)
        pos += _EVENT.size
        name = buf[pos:pos + length].rstrip(b"\0").decode("utf-8", "surrogateescape")
        pos += length
        yield wd, mask, cookie, name
