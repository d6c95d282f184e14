#!/usr/bin/python3
"""Watches s3rver's bucket folder and prints one JSON line per object stored by the server.

    storewatch.py BUCKET_DIR

s3rver writes KEY._S3rver_object, KEY._S3rver_object.md5 and KEY._S3rver_metadata.json (the
object write and the metadata writes may finish in either order). An object counts as stored when
both the object file and its metadata file have been closed after writing; the line carries the
CLOCK_MONOTONIC time (ns) at which the later of the two events was read, and the SHA-256 of the
object file. Runs in its own process so that the benchmark driver's GIL cannot delay timestamps.
Lines: {"ready": true} once watching, then {"t": NS, "key": K, "sha256": H, "size": N}.
"""
import hashlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import inotify_ctypes as ino  # noqa: E402

OBJ = "._S3rver_object"
META = "._S3rver_metadata.json"


def main():
    bucket_dir = sys.argv[1]
    fd = ino.init()
    ino.add_watch(fd, bucket_dir, ino.IN_CLOSE_WRITE | ino.IN_MOVED_TO)
    print(json.dumps({"ready": True}), flush=True)
    seen = {}  # key -> {"obj": (sha, size) or None, "meta": bool}
    while True:
        buf = os.read(fd, 65536)
        t = time.monotonic_ns()
        for _wd, mask, _cookie, name in ino.parse(buf):
            if mask & ino.IN_Q_OVERFLOW:
                print(json.dumps({"t": t, "overflow": True}), flush=True)
                continue
            if name.endswith(OBJ):
                key = name[: -len(OBJ)]
                with open(os.path.join(bucket_dir, name), "rb") as f:
                    data = f.read()
                seen.setdefault(key, {"obj": None, "meta": False})["obj"] = (
                    hashlib.sha256(data).hexdigest(), len(data))
            elif name.endswith(META):
                key = name[: -len(META)]
                seen.setdefault(key, {"obj": None, "meta": False})["meta"] = True
            else:
                continue
            st = seen[key]
            if st["obj"] is not None and st["meta"]:
                print(json.dumps({"t": t, "key": key, "sha256": st["obj"][0], "size": st["obj"][1]}),
                      flush=True)
                del seen[key]


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
