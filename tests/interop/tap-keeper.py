#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# tap-keeper.py TAP FIFO DIR: hold one queue of the multiqueue TAP TAP open
# (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE, vqnetd's flags) and
# start, for each line "NAME ARG..." read from FIFO, the command ARG... with
# that queue's fd inherited and every "{fd}" in it replaced by its number;
# its stdout in DIR/NAME.out, stderr in DIR/NAME.log, its pid written to
# DIR/NAME.pid and, once it has ended, its exit status (negative: killed
# by that signal) to DIR/NAME.rc. A line "exit" ends the keeper once
# every command has ended. What a management tool does
# for vqnetd --tap-fd (docs/vqnetd.md "Restart without loss"): the queue,
# and the frames the kernel queued in it, outlive each vqnetd.
import fcntl
import os
import struct
import subprocess
import sys
import threading

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR, IFF_MULTI_QUEUE = 0x0002, 0x1000, 0x4000, 0x0100


def main():
    tap, fifo, out = sys.argv[1:4]
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", tap.encode(),
                                           IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE))
    os.set_inheritable(fd, True)
    children = []

    def reap(c, name):
        rc = c.wait()
        with open(f"{out}/{name}.rc.tmp", "w") as r:
            r.write(f"{rc}\n")
        os.rename(f"{out}/{name}.rc.tmp", f"{out}/{name}.rc")
    while True:
        with open(fifo) as f:
            for line in f:
                words = line.split()
                if not words:
                    continue
                if words[0] == "exit":
                    for t in children:
                        t.join()
                    return
                name, args = words[0], [w.replace("{fd}", str(fd)) for w in words[1:]]
                with open(f"{out}/{name}.out", "w") as o, open(f"{out}/{name}.log", "w") as e:
                    c = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=o, stderr=e,
                                         pass_fds=(fd,))
                t = threading.Thread(target=reap, args=(c, name))
                t.start()
                children.append(t)
                with open(f"{out}/{name}.pid.tmp", "w") as p:
                    p.write(f"{c.pid}\n")
                os.rename(f"{out}/{name}.pid.tmp", f"{out}/{name}.pid")


main()
