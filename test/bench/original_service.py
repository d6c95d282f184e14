#!/usr/bin/python3
"""The original Python channel-backup service, reimplemented for the benchmark only.

What it did, and what this file does:
  * configuration from the environment: MONITOR_FILE_PATH, BACKUP_DIRECTORY, S3_BUCKET_NAME,
    S3_BACKUP_PREFIX and the usual AWS_* variables read by boto3 (the .env file is not needed);
  * on start, back up the current file;
  * an asyncio inotify watch of the folder that holds the file; for every event about
    channel.backup: copy it to a timestamped file in BACKUP_DIRECTORY, upload that copy with
    boto3's upload_file to S3_BACKUP_PREFIX + name, and delete the copy once the upload succeeded.

The original used asyncinotify, which Debian does not package, so the inotify fd is read here with
ctypes and loop.add_reader, as asyncinotify does. The upload runs inside the event-loop callback
(blocking), like the original: events that arrive meanwhile queue up in the kernel and are handled
one after the other, each copying whatever the file holds at that moment.

Only for the benchmark: boto3 1.26 (Debian 12) ignores AWS_ENDPOINT_URL_S3, so it is passed to
the client explicitly.
"""
import asyncio
import ctypes
import datetime
import logging
import os
import shutil
import struct

import boto3

log = logging.getLogger("scb-original")

IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
_libc = ctypes.CDLL(None, use_errno=True)
_EVENT = struct.Struct("iIII")


class Inotify:
    """An async iterator of (mask, name) events, fed by loop.add_reader like asyncinotify."""

    def __init__(self):
        self.fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.queue = asyncio.Queue()
        asyncio.get_running_loop().add_reader(self.fd, self._readable)

    def add_watch(self, path, mask):
        if _libc.inotify_add_watch(self.fd, os.fsencode(path), ctypes.c_uint32(mask)) < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch", path)

    def _readable(self):
        try:
            buf = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        pos = 0
        while pos < len(buf):
            _wd, mask, _cookie, length = _EVENT.unpack_from(buf, pos)
            pos += _EVENT.size
            name = buf[pos:pos + length].rstrip(b"\0").decode()
            pos += length
            self.queue.put_nowait((mask, name))

    def __aiter__(self):
        return self

    async def __anext__(self):
        return await self.queue.get()


class Service:
    def __init__(self):
        self.file = os.environ["MONITOR_FILE_PATH"]
        self.backup_dir = os.environ["BACKUP_DIRECTORY"]
        self.bucket = os.environ["S3_BUCKET_NAME"]
        self.prefix = os.environ.get("S3_BACKUP_PREFIX", "")
        self.s3 = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL_S3") or None)
        os.makedirs(self.backup_dir, exist_ok=True)

    def backup(self):
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
        name = f"channel-{stamp}.backup"
        local = os.path.join(self.backup_dir, name)
        shutil.copy2(self.file, local)
        try:
            self.s3.upload_file(local, self.bucket, self.prefix + name)
        except Exception:
            log.exception("upload of %s failed; keeping %s", name, local)
            return
        os.remove(local)
        log.info("uploaded %s", self.prefix + name)

    async def run(self):
        folder, base = os.path.split(os.path.abspath(self.file))
        inotify = Inotify()
        inotify.add_watch(folder, IN_CLOSE_WRITE | IN_MOVED_TO)
        self.backup()
        async for _mask, name in inotify:
            if name == base:
                self.backup()


def main():
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        asyncio.run(Service().run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
