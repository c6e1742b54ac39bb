#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpus of the vhost-user backend fuzz target
(tests/vhost_user/corpus/backend/).

Each seed is a valid frontend session in the input format described at the
top of fuzz_backend.c: features, a memory table, a split or packed ring
started (with chains posted so the device pops some) and stopped with
GET_VRING_BASE; config access; inflight tracking across a reconnect; a
dirty log; memory slots added and removed; a few hostile endings.
Run from anywhere: python3 tests/vhost_user/gen_backend_corpus.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, 'corpus', 'backend')

# Request numbers (lib/spec/vhost_user_msg.h); op byte = request - 1.
(GET_FEATURES, SET_FEATURES, SET_OWNER, RESET_OWNER, SET_MEM_TABLE, SET_LOG_BASE,
 SET_LOG_FD, SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE, GET_VRING_BASE,
 SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR, GET_PROTOCOL_FEATURES,
 SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, SET_VRING_ENABLE, SEND_RARP, NET_SET_MTU,
 SET_BACKEND_REQ_FD) = range(1, 22)
GET_CONFIG, SET_CONFIG = 24, 25
GET_INFLIGHT_FD, SET_INFLIGHT_FD = 31, 32
RESET_DEVICE, GET_MAX_MEM_SLOTS, ADD_MEM_REG, REM_MEM_REG, SET_STATUS, GET_STATUS = \
    34, 36, 37, 38, 39, 40

ACK = 1  # flags byte bit 0: NEED_REPLY

# SET_FEATURES selector bits (fuzz_backend.c build_payload)
F_PACKED, F_EVENT_IDX, F_INDIRECT, F_IN_ORDER, F_LOG_ALL = 1, 2, 4, 8, 16


def req(r, *payload, flags=0):
    return bytes([r - 1, flags]) + bytes(payload)


def mem(size_sel=1):
    """Create guest memory first: (1 + size_sel) * 64 KiB."""
    return bytes([0xd0, size_sel, 0, 0, 0])


def chain(q, packed=False, nd=2, writable=True, buf=0, head=0):
    c = 8 + nd % 3 if writable else nd - 1  # fuzz_backend.c: nd = 1 + c % 3
    op = 0xe0 | q | (2 if packed else 0)
    return bytes([op, c, buf]) + (b'' if packed else bytes([head]))


def work(pops=2, gpa16=0x800, length=64, q=0, hold=False):
    return bytes([0xf0 | (pops - 1) | (4 if hold else 0)]) + struct.pack('<HH', gpa16, length) + bytes([q])


def negotiate(feat_sel, ack=0):
    return (req(GET_FEATURES) + req(SET_FEATURES, feat_sel, flags=ack) +
            req(GET_PROTOCOL_FEATURES) + req(SET_PROTOCOL_FEATURES, 0, flags=ack) +
            req(SET_OWNER, flags=ack))


def mem_table(nregions=1, ack=0):
    if nregions == 1:
        return req(SET_MEM_TABLE, 1, 0, flags=ack)
    return req(SET_MEM_TABLE, 0, nregions - 1, *([0] * nregions), flags=ack)


def ring(q, base_sel=0, num_sel=0, addr_sel=0, ack=0, base=b''):
    """SET_VRING_NUM (num_sel 0: 8), ADDR, BASE, CALL; the kick comes later."""
    return (req(SET_VRING_NUM, q, num_sel, flags=ack) + req(SET_VRING_ADDR, q, addr_sel, flags=ack) +
            req(SET_VRING_BASE, q, base_sel, *base, flags=ack) + req(SET_VRING_CALL, 0, q, flags=ack))


def kick(q, ack=0):
    return req(SET_VRING_KICK, 0, q, flags=ack)


def enable(q, on=1):
    return req(SET_VRING_ENABLE, q, on)


def get_base(q):
    return req(GET_VRING_BASE, q)


SEEDS = {
    'split-start-stop': bytes([0x02]) + mem(1) + negotiate(F_EVENT_IDX) + mem_table() +
    ring(0) + chain(0) + kick(0) + enable(0) + chain(0, head=4) + work() + get_base(0),
    'split-ack-two-queues': bytes([0x01]) + mem(3) + negotiate(F_EVENT_IDX | F_INDIRECT, ACK) +
    mem_table(2, ACK) + ring(0, ack=ACK) + ring(1, ack=ACK) + chain(0) + chain(1, nd=3) +
    kick(0, ACK) + kick(1, ACK) + enable(0) + enable(1) + work(3) + get_base(1) + get_base(0),
    'packed-start-stop': bytes([0x02]) + mem(1) + negotiate(F_PACKED | F_EVENT_IDX) +
    mem_table() + ring(0, base_sel=2) + chain(0, packed=True) + kick(0) + enable(0) +
    chain(0, packed=True, nd=3) + work() + get_base(0),
    'packed-in-order': bytes([0x03]) + mem(1) + negotiate(F_PACKED | F_IN_ORDER) + mem_table() +
    ring(0, base_sel=3) + chain(0, packed=True, nd=1) + chain(0, packed=True) + kick(0) +
    work(3) + get_base(0),
    'config': bytes([0x00]) + negotiate(0) + req(GET_CONFIG, 0, 8) +
    req(SET_CONFIG, 2, 4, 1, 2, 3, 4, flags=ACK) + req(GET_CONFIG, 2, 4) +
    req(GET_CONFIG, 6, 4),
    'device-requests': bytes([0x00]) + negotiate(0, ACK) + req(GET_QUEUE_NUM) +
    req(GET_MAX_MEM_SLOTS) + req(SEND_RARP, 0x12) + req(NET_SET_MTU, 0) +
    req(SET_STATUS, 0x0f, flags=ACK) + req(GET_STATUS) + req(SET_LOG_FD) +
    req(SET_BACKEND_REQ_FD) + req(SET_VRING_ERR, 0, 1) + req(RESET_DEVICE, flags=ACK) +
    req(RESET_OWNER),
    'inflight-reconnect': bytes([0x01]) + mem(1) + negotiate(F_EVENT_IDX) + mem_table() +
    ring(0) + ring(1) + req(GET_INFLIGHT_FD, 1) + chain(0) + chain(0, head=3) + kick(0) +
    work(1, hold=True) + bytes([0xfc]) + negotiate(F_EVENT_IDX) + mem_table() +
    ring(0, base_sel=4, base=struct.pack('<H', 2)) + ring(1) +
    req(SET_INFLIGHT_FD, 1) + kick(0) + kick(1) + work(4) + get_base(0) + get_base(1),
    'log-base': bytes([0x02]) + mem(1) + negotiate(F_EVENT_IDX | F_LOG_ALL) + mem_table() +
    ring(0, addr_sel=1) + kick(0) + req(SET_LOG_BASE, 32, 0, 0) + chain(0) + work() +
    req(SET_FEATURES, F_EVENT_IDX) + req(SET_FEATURES, F_EVENT_IDX | F_LOG_ALL) +
    req(SET_VRING_ADDR, 0, 0) + get_base(0),
    'mem-slots': bytes([0x02]) + mem(1) + negotiate(F_EVENT_IDX) + req(ADD_MEM_REG, 0x40, 0) +
    ring(0) + chain(0) + kick(0) + req(ADD_MEM_REG, 0x41, 0, flags=ACK) +
    req(REM_MEM_REG, 0x41, 0) + req(REM_MEM_REG, 0x40, 0) + work() + mem_table() + kick(0) +
    get_base(0),
    'mem-table-swap-running': bytes([0x02]) + mem(1) + negotiate(F_EVENT_IDX) + mem_table() +
    ring(0) + kick(0) + chain(0) + mem_table(2) + work() + mem_table() + get_base(0) +
    req(SET_STATUS, 0),
    'kick-replaced': bytes([0x01]) + mem(1) + negotiate(F_EVENT_IDX) + mem_table() + ring(0) +
    kick(0) + kick(0) + req(SET_VRING_CALL, 1, 0) + enable(0, 0) + get_base(0) + kick(0),
    'truncated-then-again': bytes([0x00]) + negotiate(0) + bytes([0xf9, 1, 10]) + negotiate(0),
    'raw-many-fds': bytes([0x00]) + bytes([0xc0]) + struct.pack('<IIH', 1, 1, 0) + bytes([4]) +
    negotiate(0) + bytes([0xc1]) + struct.pack('<IIH', 41, 1, 8) + bytes(8) + bytes([0]),
    'oversize': bytes([0x00]) + bytes([0xc0]) + struct.pack('<IIH', 5, 1, 0x8fff) + bytes([2]) +
    negotiate(0),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), 'wb') as fp:
            fp.write(data)
    print(f'wrote {len(SEEDS)} seeds to {OUT}')


if __name__ == '__main__':
    main()
