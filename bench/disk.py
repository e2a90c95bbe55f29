#!/usr/bin/python3
"""disk.py — the physical limits a mail server meets on this disk, measured in the bench's run.

usage: disk.py DIR [--seconds 4] [--size 10240]

Three loops, each for --seconds, in a fresh directory under DIR:
  files:   create a new file, write --size octets, fdatasync, rename it into another directory,
           fsync that directory (a Maildir delivery or a queue file, one message at a time);
  batched: the same without the per-file syncs, and one syncfs(2) for every 50 files;
  appends: append --size octets to one file and fdatasync (a journal with one message per sync).
Prints `files_per_s=.. batched_per_s=.. appends_per_s=..` and removes what it wrote.
"""
import argparse
import ctypes
import os
import shutil
import tempfile
import time

libc = ctypes.CDLL(None, use_errno=True)


def files(root, size, seconds, batch):
    tmp, new = os.path.join(root, "tmp"), os.path.join(root, "new")
    os.mkdir(tmp)
    os.mkdir(new)
    directory = os.open(new, os.O_RDONLY | os.O_DIRECTORY)
    data = b"x" * size
    count, deadline = 0, time.monotonic() + seconds
    started = time.monotonic()
    while time.monotonic() < deadline:
        path = os.path.join(tmp, str(count))
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
        os.write(fd, data)
        if not batch:
            os.fdatasync(fd)
        os.close(fd)
        os.rename(path, os.path.join(new, str(count)))
        count += 1
        if not batch:
            os.fsync(directory)
        elif count % batch == 0:
            libc.syncfs(directory)
    rate = count / (time.monotonic() - started)
    os.close(directory)
    shutil.rmtree(tmp)
    shutil.rmtree(new)
    return rate


def appends(root, size, seconds):
    fd = os.open(os.path.join(root, "journal"), os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
    data = b"x" * size
    count, deadline = 0, time.monotonic() + seconds
    started = time.monotonic()
    while time.monotonic() < deadline:
        os.write(fd, data)
        os.fdatasync(fd)
        count += 1
    rate = count / (time.monotonic() - started)
    os.close(fd)
    os.unlink(os.path.join(root, "journal"))
    return rate


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--size", type=int, default=10240)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="disk-", dir=args.dir)
    try:
        results = {}
        for name, run in (("files", lambda d: files(d, args.size, args.seconds, 0)),
                          ("batched", lambda d: files(d, args.size, args.seconds, 50)),
                          ("appends", lambda d: appends(d, args.size, args.seconds))):
            sub = os.path.join(root, name)
            os.mkdir(sub)
            results[name] = run(sub)
            os.sync()
        print("files_per_s=%.0f batched_per_s=%.0f appends_per_s=%.0f" % (
            results["files"], results["batched"], results["appends"]))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
