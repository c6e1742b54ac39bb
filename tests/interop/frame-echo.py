#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# frame-echo.py IFNAME COUNT MAX_LEN: send COUNT Ethernet frames on IFNAME
# through a packet socket and expect each back on IFNAME, byte for byte and
# in order (a peer that reflects frames: vqnetd --backend loop behind
# vqnet-tap). Frame i is addressed to IFNAME's own MAC, from
# 02:00:00:00:00:01, EtherType 0x88b5, then its 32-bit sequence number and
# a pattern; lengths run over 60..MAX_LEN (the first few at the edges).
# One frame in flight at a time; 2 s without its echo is a loss. Prints
# "sent=N back=N lost=N bad=N" and exits 0 when every frame came back
# intact, 1 otherwise.
import socket
import struct
import sys

ETH_P_ALL = 0x0003
ETYPE = 0x88B5
PACKET_OUTGOING = 4


def frame(mac, seq, length):
    head = mac + bytes.fromhex("020000000001") + struct.pack("!HI", ETYPE, seq)
    body = bytes((seq * 7 + i) & 0xFF for i in range(length - len(head)))
    return head + body


def lengths(count, max_len):
    fixed = [60, 61, 1514, 1515, 4210, 4211, max_len - 1, max_len]
    return [fixed[i] if i < len(fixed) else 60 + (i * 2654435761) % (max_len - 59)
            for i in range(count)]


def main():
    ifname, count, max_len = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((ifname, 0))
    s.settimeout(2.0)
    mac = bytes.fromhex(open(f"/sys/class/net/{ifname}/address").read().strip().replace(":", ""))
    back = lost = bad = 0
    for seq, length in enumerate(lengths(count, max_len)):
        want = frame(mac, seq, length)
        s.send(want)
        while True:
            try:
                got, addr = s.recvfrom(65536)
            except socket.timeout:
                lost += 1
                print(f"frame {seq} ({length} bytes) did not come back", file=sys.stderr)
                break
            if addr[3] == PACKET_OUTGOING or got[12:14] != struct.pack("!H", ETYPE):
                continue  # our own copy going out, or the kernel's traffic
            if got == want:
                back += 1
            else:
                bad += 1
                print(f"frame {seq}: {len(got)} bytes back, {length} sent, differs",
                      file=sys.stderr)
            break
    print(f"sent={count} back={back} lost={lost} bad={bad}")
    return 0 if back == count else 1


sys.exit(main())
