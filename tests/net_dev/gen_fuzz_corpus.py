#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Seed corpora of the ring-driven fuzz targets of tests/net_dev:
net_dev_datapath (fuzz_net_dev_datapath.c) and ctrlq_framing
(fuzz_ctrlq_framing.c). Each seed is a valid input that reaches deep;
the formats are described at the top of the targets.
Run: python3 tests/net_dev/gen_fuzz_corpus.py"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def u16(x):
    return struct.pack('<H', x)


def write(target, name, data):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(bytes(data))


def csum16(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def eth(dst=b'\xff' * 6, typ=0x0800):
    return dst + b'\x02\x00\x00\x00\x00\x02' + struct.pack('!H', typ)


def ipv4(payload_len, proto=6):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + payload_len, 1, 0x4000, 64, proto, 0,
                    bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return h[:10] + struct.pack('!H', csum16(h)) + h[12:]


def tcp(seq=1):
    return struct.pack('!HHIIBBHHH', 1234, 80, seq, 0, 0x50, 0x18, 65535, 0, 0)


def vnet(flags=0, gso=0, hdr_len=0, gso_size=0, cstart=0, coff=0, nbuf=0):
    return struct.pack('<BBHHHHH', flags, gso, hdr_len, gso_size, cstart, coff, nbuf)


# ---- net_dev_datapath ----------------------------------------------------
# header: ring, qsize, host, guest, caps, mtu(u16: 68 + x), slot
def dp_header(ring=0, qsize=2, host=0, guest=0, caps=0, mtu=1500 - 68, slot=7):
    return bytes([ring, qsize, host, guest, caps]) + u16(mtu) + bytes([slot])


def dp_tx(bufs, data, indirect=False):
    """bufs: [(off, len)] in the tx region; data: header + frame."""
    b = bytes([(len(bufs) - 1) | (0x80 if indirect else 0)])
    for off, ln in bufs:
        b += u16(off) + u16(ln - 1)
    return bytes([0]) + b + u16(len(data)) + data


def dp_rx(lens, indirect=False):
    b = bytes([1, (len(lens) - 1) | (0x80 if indirect else 0)])
    for ln in lens:
        b += u16(ln - 1)
    return b


PUBLISH, TX_TURN, RX_TURN = bytes([2]), bytes([3]), bytes([4])


def dp_inject(frame, flags=0, gso=0, hdr_len=0, gso_size=0, cstart=0, coff=0):
    return (bytes([5]) + u16(len(frame)) + bytes([flags, gso]) + u16(hdr_len) + u16(gso_size) +
            u16(cstart) + u16(coff) + frame)


def tso_frame(payload=3000):
    seg = tcp() + bytes(range(256)) * (payload // 256) + bytes(payload % 256)
    return eth() + ipv4(len(seg)) + seg


def gen_datapath():
    frame = eth() + bytes(range(46))
    one = vnet() + frame
    write('net_dev_datapath', 'split-one-frame',
          dp_header() + dp_rx([2048]) + PUBLISH + dp_tx([(0, len(one))], one) + PUBLISH +
          TX_TURN + RX_TURN)
    # MRG_RXBUF, 64-byte buffers: a 200-byte frame takes 4 chains.
    big = vnet() + eth() + bytes(186)
    write('net_dev_datapath', 'split-mrg-small-buffers',
          dp_header(ring=0x10, qsize=3, slot=2) + dp_rx([64]) * 6 + PUBLISH +
          dp_tx([(0, len(big))], big) + PUBLISH + TX_TURN + RX_TURN)
    # Packed, INDIRECT, IN_ORDER: a frame in 3 buffers, receive in 2.
    write('net_dev_datapath', 'packed-indirect-inorder',
          dp_header(ring=0x0d, qsize=7, slot=6) + dp_rx([512, 1024], indirect=True) * 2 +
          PUBLISH + dp_tx([(0, 10), (100, 30), (1000, 32)], one, indirect=True) +
          dp_tx([(2000, len(one))], one) + PUBLISH + TX_TURN + RX_TURN + RX_TURN)
    # TSO4 from the guest; the backend takes no offload: segmented on tx.
    f = tso_frame()
    h = vnet(1, 1, 54, 1000, 34, 16) + f
    write('net_dev_datapath', 'tso4-soft-segmented',
          dp_header(host=0x03, slot=7) + dp_rx([2048]) * 4 + PUBLISH +
          dp_tx([(0, len(h))], h) + PUBLISH + TX_TURN + RX_TURN)
    # TSO4 passed to the backend, looped back to a guest that takes TSO4
    # with mergeable buffers.
    write('net_dev_datapath', 'tso4-loop-to-guest-mrg',
          dp_header(ring=0x10, host=0x03, guest=0x03, caps=0x03, slot=7) + dp_rx([2048]) * 3 +
          PUBLISH + dp_tx([(0, len(h))], h) + PUBLISH + TX_TURN + RX_TURN)
    # ... and to a guest that takes nothing: segmented on rx.
    write('net_dev_datapath', 'tso4-loop-rx-segmented',
          dp_header(host=0x03, caps=0x03, slot=7) + dp_rx([2048]) * 4 + PUBLISH +
          dp_tx([(0, len(h))], h) + PUBLISH + TX_TURN + RX_TURN + RX_TURN)
    # A backend frame with a partial checksum for a guest without GUEST_CSUM.
    u = struct.pack('!HHHH', 5000, 53, 8 + 40, 0) + bytes(40)
    uf = eth() + ipv4(len(u), proto=17) + u
    write('net_dev_datapath', 'inject-csum-partial',
          dp_header(slot=7) + dp_rx([2048]) * 2 + PUBLISH + dp_inject(uf, 1, 0, 0, 0, 34, 6) +
          dp_inject(frame) + RX_TURN)
    # Guest buffers too small without MRG_RXBUF, then a backend that fails.
    write('net_dev_datapath', 'small-buffers-backend-fails',
          dp_header(slot=2) + dp_rx([8]) + dp_rx([64]) + PUBLISH + dp_inject(bytes(100)) +
          RX_TURN + bytes([6, 254]) + dp_tx([(0, len(one))], one) + PUBLISH + TX_TURN +
          bytes([9]) + RX_TURN)


# ---- ctrlq_framing ------------------------------------------------------
# header: ring, qsize, control features, max pairs
def cf_post(cmd, pieces, ins, indirect=False):
    b = bytes([0, len(pieces) | (0x80 if indirect else 0), len(ins)]) + u16(len(cmd)) + cmd
    for p in pieces:
        b += u16(p - 1)
    return b + bytes(i - 1 for i in ins)


CF_PUBLISH = bytes([1])


def cf_process(budget=64):
    return bytes([2, budget - 1])


def gen_ctrlq_framing():
    promisc = bytes([0, 0, 1])           # RX PROMISC on
    mac_table = bytes([1, 0]) + struct.pack('<I', 1) + bytes([2, 0, 0, 0, 0, 9]) + \
        struct.pack('<I', 1) + bytes([1, 0, 0x5e, 0, 0, 1])
    write('ctrlq_framing', 'split-header-ack',
          bytes([0, 2, 0x7f, 4]) + cf_post(promisc, [2, 1], [1]) + CF_PUBLISH + cf_process())
    # The MAC table byte by byte over many descriptors, indirect.
    write('ctrlq_framing', 'mac-table-indirect-pieces',
          bytes([4, 3, 0x01, 1]) + cf_post(mac_table, [1] * 10 + [len(mac_table) - 10], [1, 4],
                                         indirect=True) + CF_PUBLISH + cf_process())
    # Packed ring, IN_ORDER: a command, one without an ack byte, MQ pairs.
    mq = bytes([4, 0]) + u16(2)
    write('ctrlq_framing', 'packed-inorder-noack-mq',
          bytes([9, 7, 0x10, 4]) + cf_post(mq, [4], [2]) + cf_post(promisc, [3], []) +
          cf_post(mq, [1, 1, 2], [1]) + CF_PUBLISH + cf_process(2) + cf_process())
    # A command longer than NET_DEV_CTRLQ_MAX_CMD (8192 bytes).
    write('ctrlq_framing', 'too-long',
          bytes([0, 2, 0x01, 1]) + cf_post(bytes([1, 0]) + bytes(8300), [4000, 4302], [1]) +
          CF_PUBLISH + cf_process())
    # More readable segments than the queue takes (64), indirect.
    write('ctrlq_framing', 'too-many-segments',
          bytes([4, 7, 0x01, 1]) + cf_post(bytes(70), [1] * 70, [1], indirect=True) +
          CF_PUBLISH + cf_process())


gen_datapath()
gen_ctrlq_framing()
