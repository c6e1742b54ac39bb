#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# nat-peer.py: the peers of vqnetd-nat.sh (vqnetd --backend user through
# vqnet-tap, the guest being the kernel of a network namespace). One
# process makes sockets on both sides when it needs to: in the host's
# namespace and, through setns(2), in the guest's ("-" is the host's), so
# the two ends of a test are sequenced exactly, without messages between
# processes.
#
#   put-server ADDR          HTTP server for PUT (curl -T): prints
#                            "port N", then "put size=N md5=X" per upload
#                            (also the response body).
#   dns-server ADDR NAME A [AAAA]
#                            a DNS server on UDP ADDR (port picked, printed
#                            as "port N"): NAME's A (and AAAA) record; any
#                            other name NXDOMAIN. One "query ..." line each.
#   udp-echo-server NS ADDR PORT
#                            echoes datagrams on ADDR:PORT (0: picked) in
#                            NS; prints "port N".
#   tcp-echo-server NS ADDR PORT
#                            echoes TCP connections likewise.
#   udp-echo CLI_NS DST PORT N
#                            N requests of various sizes (1..65000 bytes)
#                            from CLI_NS to DST:PORT, each answered
#                            byte-exact within 3 s (no retries).
#   udp-closed NS DST PORT   a datagram to a closed DST:PORT from NS must
#                            come back as ECONNREFUSED within 3 s.
#   tcp-echo CLI_NS DST PORT N
#                            one TCP connection, N request/answers.
#   tcp-many CLI_NS DST SRV_ADDR N
#                            a host echo server on SRV_ADDR and N client
#                            connections from CLI_NS to DST (the guest's
#                            name for SRV_ADDR), all open at once, each
#                            sending 32 bytes of its own and checking them,
#                            then shutting its write side: the host side
#                            sees EOF and closes, the guest sees EOF.
#   edge NS DST SRV_ADDR VQNETD_PID
#                            TCP edge cases between a guest in NS and a
#                            host server on SRV_ADDR: half-close each way,
#                            RST each way, a refused connection, a host
#                            reader that stops (the guest's sender must
#                            block, vqnetd's RSS stay bounded, and every
#                            byte arrive in order once it reads again).
#   ra NS IF                 send a Router Solicitation on IF, print the
#                            Router Advertisement's fields.
#   dhcp6 NS IF              DHCPv6 Information-request on IF, print the
#                            Reply's DNS servers.
#   resolve NS SERVER NAME   one A query to SERVER:53 from NS, print the
#                            addresses.
#   unreach NS DST           DST has no route from vqnetd: a UDP datagram
#                            (IP_RECVERR / IPV6_RECVERR on, since Linux
#                            reports a net or host unreachable to UDP only
#                            then) and a TCP connect from NS each fail with
#                            ENETUNREACH or EHOSTUNREACH within 2 s.
#
# Every check prints "ok WHAT ..." or "FAIL WHAT: why"; exit 1 when one
# failed, 0 otherwise.
import ctypes
import errno
import hashlib
import os
import random
import resource
import selectors
import socket
import struct
import sys
import threading
import time

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_HOST_NS = os.open("/proc/self/ns/net", os.O_RDONLY)
failed = False


def ok(what, detail=""):
    print("ok %s %s" % (what, detail), flush=True)


def bad(what, why):
    global failed
    failed = True
    print("FAIL %s: %s" % (what, why), flush=True)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: " + os.strerror(e))


def sock(ns, family=socket.AF_INET, type_=socket.SOCK_STREAM, proto=0):
    """A socket of namespace NS ('-': the host's); it stays there."""
    if ns in ("-", "", None):
        return socket.socket(family, type_, proto)
    fd = os.open("/run/netns/" + ns, os.O_RDONLY)
    try:
        _setns(fd)
        try:
            return socket.socket(family, type_, proto)
        finally:
            _setns(_HOST_NS)
    finally:
        os.close(fd)


def fam(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def in_ns(ns, fn, *args):
    """Call fn in namespace NS (for name lookups that need it)."""
    if ns in ("-", "", None):
        return fn(*args)
    fd = os.open("/run/netns/" + ns, os.O_RDONLY)
    try:
        _setns(fd)
        try:
            return fn(*args)
        finally:
            _setns(_HOST_NS)
    finally:
        os.close(fd)


def listener(ns, addr, port=0, backlog=128):
    s = sock(ns, fam(addr))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(backlog)
    return s


def recv_all(s, limit=1 << 31):
    """Read until EOF; return the bytes (socket.timeout propagates)."""
    parts, n = [], 0
    while True:
        d = s.recv(1 << 20)
        if not d:
            return b"".join(parts)
        parts.append(d)
        n += len(d)
        if n > limit:
            raise ValueError("more than %d bytes" % limit)


def print_port(s):
    print("port %d" % s.getsockname()[1], flush=True)


# ---- servers ----------------------------------------------------------------


def put_server(addr):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_PUT(self):
            left = int(self.headers.get("Content-Length", "-1"))
            if left < 0:
                self.send_error(411)
                return
            h, n = hashlib.md5(), 0
            while left > 0:
                d = self.rfile.read(min(left, 1 << 20))
                if not d:
                    break
                h.update(d)
                n += len(d)
                left -= len(d)
            body = ("put size=%d md5=%s\n" % (n, h.hexdigest())).encode()
            print(body.decode(), end="", flush=True)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    class S(ThreadingHTTPServer):
        address_family = fam(addr)

    srv = S((addr, 0), H)
    print_port(srv.socket)
    srv.serve_forever()


def dns_name(m, o):
    labels = []
    while True:
        n = m[o]
        if n == 0:
            return ".".join(labels), o + 1
        if n >= 0xC0:
            raise ValueError("compressed name in a question")
        labels.append(m[o + 1 : o + 1 + n].decode("ascii", "replace"))
        o += 1 + n


def dns_server(addr, name, a, aaaa=None):
    s = socket.socket(fam(addr), socket.SOCK_DGRAM)
    s.bind((addr, 0))
    print_port(s)
    name = name.rstrip(".").lower()
    while True:
        m, peer = s.recvfrom(4096)
        try:
            qid, flags, qd = struct.unpack("!HHH", m[:6])
            qname, o = dns_name(m, 12)
            qtype, qclass = struct.unpack("!HH", m[o : o + 4])
        except (ValueError, IndexError, struct.error):
            print("query from %s malformed" % (peer,), flush=True)
            continue
        q = m[12 : o + 4]
        ans = b""
        rcode = 0
        if qname.lower() != name:
            rcode = 3  # NXDOMAIN
        elif qtype == 1:
            ans = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_pton(socket.AF_INET, a)
        elif qtype == 28 and aaaa:
            ans = b"\xc0\x0c" + struct.pack("!HHIH", 28, 1, 60, 16) + socket.inet_pton(socket.AF_INET6, aaaa)
        hdr = struct.pack("!HHHHHH", qid, 0x8180 | (flags & 0x0100) | rcode, 1, 1 if ans else 0, 0, 0)
        s.sendto(hdr + q + ans, peer)
        print("query from %s:%d id=%d name=%s type=%d rcode=%d" % (peer[0], peer[1], qid, qname, qtype, rcode), flush=True)


def udp_echo_server(ns, addr, port):
    s = sock(ns, fam(addr), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((addr, port))
    print_port(s)
    while True:
        m, peer = s.recvfrom(65536)
        s.sendto(m, peer)


def tcp_echo_server(ns, addr, port):
    ls = listener(ns, addr, port)
    print_port(ls)

    def serve(c):
        with c:
            while True:
                d = c.recv(1 << 16)
                if not d:
                    return
                c.sendall(d)

    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


# ---- clients ------------------------------------------------------------------

UDP_SIZES = [1, 64, 512, 1400, 1472, 1473, 4000, 8972, 16384, 30000, 65000]


def udp_echo(ns, dst, port, n):
    c = sock(ns, fam(dst), socket.SOCK_DGRAM)
    c.settimeout(3)
    c.connect((dst, port))
    rnd = random.Random(7)
    good, sizes_bad = 0, {}
    for i in range(n):
        size = UDP_SIZES[i % len(UDP_SIZES)]
        m = (struct.pack("!I", i) + rnd.randbytes(size))[:size]
        c.send(m)
        try:
            while True:
                r = c.recv(65536)
                # a late answer to an earlier request: not this one
                if size < 4 or r[:4] == m[:4]:
                    break
        except socket.timeout:
            sizes_bad[size] = sizes_bad.get(size, 0) + 1
            continue
        except ConnectionRefusedError:
            bad("udp-echo", "ICMP port unreachable for request %d" % i)
            return
        if r == m:
            good += 1
        else:
            sizes_bad[size] = sizes_bad.get(size, 0) + 1
    if good == n:
        ok("udp-echo", "%d of %d answered byte-exact (sizes %s)" % (good, n, ",".join(map(str, UDP_SIZES))))
    else:
        bad("udp-echo", "%d of %d answered byte-exact; unanswered or wrong by size: %s" % (good, n, sizes_bad))


def udp_closed(ns, dst, port):
    """A datagram to a port nobody listens on: the guest's socket learns
    it (ICMP port unreachable) and its next recv fails, at once."""
    c = sock(ns, fam(dst), socket.SOCK_DGRAM)
    c.settimeout(3)
    c.connect((dst, port))
    t0 = time.time()
    try:
        c.send(b"anyone there?")
        d = c.recv(100)
        bad("udp-closed", "an answer from a closed port: %r" % d[:20])
    except ConnectionRefusedError:
        ok("udp-closed", "ECONNREFUSED after %.3f s" % (time.time() - t0))
    except socket.timeout:
        bad("udp-closed", "no ICMP port unreachable within 3 s")
    finally:
        c.close()


def unreach(ns, dst):
    errs = (errno.ENETUNREACH, errno.EHOSTUNREACH)
    v6 = fam(dst) == socket.AF_INET6
    u = sock(ns, fam(dst), socket.SOCK_DGRAM)
    u.setsockopt(socket.IPPROTO_IPV6 if v6 else socket.IPPROTO_IP, 25 if v6 else 11, 1)  # *_RECVERR
    u.settimeout(2)
    u.connect((dst, 9))
    t0 = time.time()
    try:
        u.send(b"is there a route?")
        u.recv(100)
        bad("unreach-udp", "an answer from %s" % dst)
    except socket.timeout:
        bad("unreach-udp", "no ICMP error within 2 s")
    except OSError as e:
        if e.errno in errs:
            ok("unreach-udp", "%s after %.3f s" % (errno.errorcode[e.errno], time.time() - t0))
        else:
            bad("unreach-udp", repr(e))
    finally:
        u.close()
    c = sock(ns, fam(dst))
    c.settimeout(10)
    t0 = time.time()
    try:
        c.connect((dst, 80))
        bad("unreach-tcp", "connected to %s" % dst)
    except socket.timeout:
        bad("unreach-tcp", "a time-out (10 s), not an ICMP error")
    except OSError as e:
        dt = time.time() - t0
        if e.errno in errs and dt < 2:
            ok("unreach-tcp", "%s after %.3f s" % (errno.errorcode[e.errno], dt))
        else:
            bad("unreach-tcp", "%r after %.1f s" % (e, dt))
    finally:
        c.close()


def tcp_echo(ns, dst, port, n):
    c = sock(ns, fam(dst))
    c.settimeout(10)
    try:
        c.connect((dst, port))
        for i in range(n):
            m = ("request %d " % i).encode() * (1 + i % 50)
            c.sendall(m)
            got = b""
            while len(got) < len(m):
                d = c.recv(len(m) - len(got))
                if not d:
                    raise EOFError("EOF after %d of %d bytes" % (len(got), len(m)))
                got += d
            if got != m:
                raise ValueError("answer %d differs" % i)
        c.shutdown(socket.SHUT_WR)
        if c.recv(1) != b"":
            raise ValueError("data after the last answer")
        ok("tcp-echo", "%d requests answered byte-exact, then EOF" % n)
    except (OSError, EOFError, ValueError) as e:
        bad("tcp-echo", repr(e))
    finally:
        c.close()


def tcp_many(ns, dst, srv_addr, n, limit_s=60):
    """N connections open at once; each echoes its own 32 bytes."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2 * n + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 2 * n + 256), hard))
    ls = listener("-", srv_addr, 0, backlog=4096)
    ls.setblocking(False)
    port = ls.getsockname()[1]
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ, ("listen", None))
    clients = []
    for i in range(n):
        c = sock(ns, fam(dst))
        c.setblocking(False)
        err = c.connect_ex((dst, port))
        if err not in (0, 115):  # EINPROGRESS
            bad("tcp-many", "connect %d: %s" % (i, os.strerror(err)))
            return
        st = {"i": i, "state": "connecting", "msg": struct.pack("!I", i) + os.urandom(28), "got": b""}
        clients.append((c, st))
        sel.register(c, selectors.EVENT_WRITE, ("cli", st))
    servers = []  # accepted sockets
    connected = accepted = echoed = peak = eofs = cli_eofs = 0
    t_end = time.time() + limit_s
    phase = "connect"
    while time.time() < t_end:
        for key, ev in sel.select(timeout=1):
            kind, st = key.data
            s = key.fileobj
            if kind == "listen":
                while True:
                    try:
                        a, _ = ls.accept()
                    except BlockingIOError:
                        break
                    a.setblocking(False)
                    accepted += 1
                    servers.append(a)
                    sel.register(a, selectors.EVENT_READ, ("srv", None))
            elif kind == "srv":
                try:
                    d = s.recv(4096)
                except ConnectionError as e:
                    bad("tcp-many", "host side: %r" % e)
                    d = b""
                if d:
                    s.send(d)  # 32 bytes: the buffer has room
                else:
                    sel.unregister(s)
                    s.close()
                    eofs += 1
            elif st["state"] == "connecting":
                e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if e:
                    bad("tcp-many", "connection %d: %s" % (st["i"], os.strerror(e)))
                    return
                st["state"] = "open"
                connected += 1
                sel.modify(s, selectors.EVENT_READ, ("cli", st))
            elif st["state"] == "sent":
                try:
                    d = s.recv(64)
                except ConnectionError as e:
                    bad("tcp-many", "connection %d: %r" % (st["i"], e))
                    return
                if not d:
                    bad("tcp-many", "connection %d: EOF before its echo" % st["i"])
                    return
                st["got"] += d
                if len(st["got"]) >= 32:
                    if st["got"] != st["msg"]:
                        bad("tcp-many", "connection %d: echo differs" % st["i"])
                        return
                    st["state"] = "done"
                    echoed += 1
            elif st["state"] == "shut":
                # After our FIN, the host's: EOF.
                try:
                    d = s.recv(64)
                except ConnectionError as e:
                    bad("tcp-many", "connection %d: %r instead of EOF" % (st["i"], e))
                    return
                if d:
                    bad("tcp-many", "connection %d: %d bytes after the echo" % (st["i"], len(d)))
                    return
                st["state"] = "closed"
                sel.unregister(s)
                s.close()
                cli_eofs += 1
            elif st["state"] == "open":
                d = s.recv(64)
                bad("tcp-many", "connection %d: unexpected %r" % (st["i"], d))
                return
        if phase == "connect" and connected == n and accepted == n:
            # Every connection is open on both sides at this moment.
            peak = min(connected, accepted)
            phase = "echo"
            for c, st in clients:
                c.send(st["msg"])
                st["state"] = "sent"
        if phase == "echo" and echoed == n:
            # Each client shuts its write side; the host side closes on
            # EOF, and the client must then see the host's FIN.
            phase = "close"
            for c, st in clients:
                c.shutdown(socket.SHUT_WR)
                st["state"] = "shut"
        if phase == "close" and eofs == n and cli_eofs == n:
            break
    detail = "connected=%d accepted=%d open_at_once=%d echoed=%d host_eof=%d guest_eof=%d in %.1f s" % (
        connected, accepted, peak, echoed, eofs, cli_eofs, limit_s - (t_end - time.time()))
    if phase == "close" and eofs == n and cli_eofs == n:
        ok("tcp-many", detail)
    else:
        bad("tcp-many", "stuck in phase %s: %s" % (phase, detail))


# ---- TCP edge cases -------------------------------------------------------------


def pair(ns, dst, ls, timeout=10):
    """A connection from the guest (NS) to the host listener LS: (guest, host)."""
    c = sock(ns, fam(dst))
    c.settimeout(timeout)
    c.connect((dst, ls.getsockname()[1]))
    ls.settimeout(timeout)
    a, _ = ls.accept()
    a.settimeout(timeout)
    return c, a


def sender(s, data, close=False):
    """Send DATA on S in a thread (so one process can be both ends), then
    close S when CLOSE."""
    res = {}

    def run():
        try:
            s.sendall(data)
            if close:
                s.close()
            res["ok"] = True
        except OSError as e:
            res["err"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, res


def edge_halfclose(ns, dst, ls, who):
    """WHO ('guest' or 'host') shuts its write side first, then still
    receives a megabyte from the other, which closes after."""
    what = "half-close-" + who
    other = "host" if who == "guest" else "guest"
    c, a = pair(ns, dst, ls)
    first, second = (c, a) if who == "guest" else (a, c)
    step = "connect"
    try:
        small = b"%s says bye " % who.encode() * 100
        big = os.urandom(1 << 20)
        step = "%s sends %d bytes and its FIN" % (who, len(small))
        first.sendall(small)
        first.shutdown(socket.SHUT_WR)
        step = "%s reads those bytes and the FIN" % other
        got = recv_all(second)
        if got != small:
            return bad(what, "the %s got %d bytes (want %d), then EOF" % (other, len(got), len(small)))
        # The side that closed its write side still reads: a megabyte,
        # then the other side's FIN.
        step = "%s sends 1 MiB and closes; %s reads it and EOF" % (other, who)
        t, res = sender(second, big, close=True)
        got = recv_all(first)
        t.join(20)
        if not res.get("ok"):
            return bad(what, "the %s could not send after the FIN: %r" % (other, res.get("err")))
        if got != big:
            return bad(what, "after its FIN, the %s got %d bytes (want %d, byte-exact)" % (who, len(got), len(big)))
        ok(what, "FIN forwarded, then 1 MiB back and EOF")
    except socket.timeout:
        bad(what, "timed out (10 s) at: %s" % step)
    except OSError as e:
        bad(what, "%r at: %s" % (e, step))
    finally:
        c.close()
        a.close()


def edge_rst(ns, dst, ls, who):
    """WHO closes with SO_LINGER 0 (an RST): the other side's recv fails
    with ECONNRESET, not EOF, not a time-out."""
    what = "rst-from-" + who
    c, a = pair(ns, dst, ls)
    closer, other = (c, a) if who == "guest" else (a, c)
    try:
        closer.sendall(b"x" * 100)
        d = b""
        while len(d) < 100:
            d += other.recv(100 - len(d))
        closer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        closer.close()
        t0 = time.time()
        other.settimeout(10)
        try:
            d = other.recv(100)
            if d:
                bad(what, "the other side read %d bytes nobody sent" % len(d))
            else:
                bad(what, "the other side read EOF (a FIN, not an RST)")
        except ConnectionResetError:
            ok(what, "ECONNRESET after %.2f s" % (time.time() - t0))
        except socket.timeout:
            bad(what, "no RST within 10 s")
    except OSError as e:
        bad(what, repr(e))
    finally:
        c.close()
        a.close()


def edge_refused(ns, dst, srv_addr):
    what = "refused"
    p = socket.socket(fam(srv_addr))
    p.bind((srv_addr, 0))
    port = p.getsockname()[1]
    p.close()  # bound, never listening: nobody there
    c = sock(ns, fam(dst))
    c.settimeout(10)
    t0 = time.time()
    try:
        c.connect((dst, port))
        bad(what, "connected to a closed port")
    except ConnectionRefusedError:
        dt = time.time() - t0
        if dt < 2:
            ok(what, "ECONNREFUSED after %.3f s" % dt)
        else:
            bad(what, "ECONNREFUSED only after %.1f s (retransmitted SYNs?)" % dt)
    except socket.timeout:
        bad(what, "a time-out (10 s), not ECONNREFUSED")
    except OSError as e:
        bad(what, repr(e))
    finally:
        c.close()


def vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def edge_stall(ns, dst, ls, pid, total=64 << 20):
    """The host reader stops: the guest's sender must block (the window
    closes, nothing piles up in vqnetd); then it reads again and every byte
    arrives in order."""
    what = "stalled-reader"
    data = random.Random(42).randbytes(total)
    c, a = pair(ns, dst, ls)
    try:
        rss0 = vm_rss_kb(pid)
        c.setblocking(False)
        sent, idle_since, rss_max = 0, None, rss0
        t_end = time.time() + 40
        while time.time() < t_end and sent < total:
            try:
                n = c.send(data[sent : sent + (1 << 18)])
                sent += n
                idle_since = None
                continue
            except BlockingIOError:
                pass
            rss_max = max(rss_max, vm_rss_kb(pid))
            if idle_since is None:
                idle_since = time.time()
            elif time.time() - idle_since > 3:
                break
            time.sleep(0.05)
        if sent >= total:
            return bad(what, "the guest sent all %d MiB to a host that reads nothing: buffered somewhere" % (total >> 20))
        if idle_since is None or time.time() - idle_since < 3:
            return bad(what, "the guest's sender never blocked for 3 s (%d bytes sent in 40 s)" % sent)
        # Still blocked 2 s later: the window stays closed, no probe
        # lets data through that the host could not take.
        time.sleep(2)
        try:
            n = c.send(data[sent : sent + 65536])
            sent += n
            late = n
        except BlockingIOError:
            late = 0
        rss1 = vm_rss_kb(pid)
        rss_max = max(rss_max, rss1)
        growth = (rss_max - rss0) // 1024
        detail = "guest blocked after %.1f MiB; vqnetd VmRSS %d -> %d kB (max %d)" % (
            sent / 1048576, rss0, rss1, rss_max)
        if sent > 48 << 20:
            bad(what, "%.1f MiB accepted before the guest blocked (want the window to close)" % (sent / 1048576))
        if growth > 32:
            bad(what, "vqnetd grew by %d MiB while the reader stalled (%s)" % (growth, detail))
        if late > 32768:
            bad(what, "the guest could send %d bytes more after blocking for 3 s" % late)
        # The reader comes back: everything, in order.
        got = {"n": 0, "err": None}

        def reader():
            try:
                a.settimeout(20)
                off = 0
                while True:
                    d = a.recv(1 << 20)
                    if not d:
                        break
                    if data[off : off + len(d)] != d:
                        got["err"] = "bytes %d..%d differ from what was sent (order or content)" % (off, off + len(d))
                        break
                    off += len(d)
                got["n"] = off
            except OSError as e:
                got["err"] = repr(e)

        t = threading.Thread(target=reader, daemon=True)
        t0 = time.time()
        t.start()
        c.setblocking(True)
        c.settimeout(30)
        c.sendall(data[sent:])
        c.shutdown(socket.SHUT_WR)
        t.join(40)
        dt = time.time() - t0
        if t.is_alive():
            return bad(what, "the host read %d of %d bytes in 40 s after resuming (%s)" % (got["n"], total, detail))
        if got["err"]:
            return bad(what, got["err"])
        if got["n"] != total:
            return bad(what, "the host got %d of %d bytes" % (got["n"], total))
        rss2 = vm_rss_kb(pid)
        ok(what, "%s; after resuming all %d MiB in order in %.1f s; VmRSS at the end %d kB" % (
            detail, total >> 20, dt, rss2))
    except socket.timeout:
        bad(what, "timed out")
    except OSError as e:
        bad(what, repr(e))
    finally:
        c.close()
        a.close()


def edge(ns, dst, srv_addr, pid):
    ls = listener("-", srv_addr)
    edge_halfclose(ns, dst, ls, "guest")
    edge_halfclose(ns, dst, ls, "host")
    edge_rst(ns, dst, ls, "guest")
    edge_rst(ns, dst, ls, "host")
    edge_refused(ns, dst, srv_addr)
    edge_stall(ns, dst, ls, pid)
    ls.close()


# ---- IPv6 router and DHCPv6 ----------------------------------------------------------


def ra(ns, ifname):
    s = sock(ns, socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
    idx = in_ns(ns, socket.if_nametoindex, ifname)
    s.settimeout(1)
    t_end = time.time() + 10
    while time.time() < t_end:
        s.sendto(struct.pack("!BBHI", 133, 0, 0, 0), ("ff02::2", 0, 0, idx))
        try:
            while True:
                m, anc, _, peer = s.recvmsg(2048, 256)
                if m and m[0] == 134:
                    hops = [struct.unpack("i", d)[0] for lv, ty, d in anc if ty == socket.IPV6_HOPLIMIT]
                    return print_ra(m, peer[0], hops[0] if hops else -1)
        except socket.timeout:
            continue
    bad("ra", "no Router Advertisement in 10 s")


def print_ra(m, src, hops):
    hop, flags, life = struct.unpack("!BBH", m[4:8])
    out = ["src=%s" % src.split("%")[0], "hoplimit=%d" % hops, "curhop=%d" % hop,
           "M=%d" % (flags >> 7 & 1), "O=%d" % (flags >> 6 & 1), "lifetime=%d" % life]
    o = 16
    while o + 2 <= len(m):
        t, ln = m[o], m[o + 1] * 8
        if ln == 0 or o + ln > len(m):
            bad("ra", "bad option at %d" % o)
            break
        v = m[o : o + ln]
        if t == 1:
            out.append("srcll=%s" % ":".join("%02x" % b for b in v[2:8]))
        elif t == 3:
            plen, pfl = v[2], v[3]
            out.append("prefix=%s/%d L=%d A=%d" % (socket.inet_ntop(socket.AF_INET6, v[16:32]), plen,
                                                    pfl >> 7 & 1, pfl >> 6 & 1))
        elif t == 5:
            out.append("mtu=%d" % struct.unpack("!I", v[4:8])[0])
        elif t == 25:
            for i in range(8, ln, 16):
                out.append("rdnss=%s" % socket.inet_ntop(socket.AF_INET6, v[i : i + 16]))
        else:
            out.append("opt%d" % t)
        o += ln
    print("ra " + " ".join(out), flush=True)


def dhcp6(ns, ifname):
    s = sock(ns, socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", 546))
    idx = in_ns(ns, socket.if_nametoindex, ifname)
    xid = os.urandom(3)
    duid = struct.pack("!HH", 3, 1) + bytes.fromhex("525400123456")
    msg = bytes([11]) + xid
    msg += struct.pack("!HH", 1, len(duid)) + duid  # client id
    msg += struct.pack("!HHH", 8, 2, 0)  # elapsed time
    msg += struct.pack("!HHH", 6, 2, 23)  # ORO: DNS servers
    s.settimeout(2)
    for _ in range(4):
        s.sendto(msg, ("ff02::1:2", 547, 0, idx))
        try:
            while True:
                m, peer = s.recvfrom(2048)
                if m[0] == 7 and m[1:4] == xid:
                    return print_dhcp6(m, peer)
        except socket.timeout:
            continue
    bad("dhcp6", "no Reply to an Information-request in 8 s")


def print_dhcp6(m, peer):
    out = ["src=%s" % peer[0].split("%")[0], "sport=%d" % peer[1]]
    o = 4
    while o + 4 <= len(m):
        code, ln = struct.unpack("!HH", m[o : o + 4])
        v = m[o + 4 : o + 4 + ln]
        if code == 23:
            for i in range(0, ln, 16):
                out.append("dns=%s" % socket.inet_ntop(socket.AF_INET6, v[i : i + 16]))
        elif code == 2:
            out.append("serverid=%s" % v.hex())
        elif code == 1:
            out.append("clientid=%s" % v.hex())
        else:
            out.append("opt%d" % code)
        o += 4 + ln
    print("dhcp6 " + " ".join(out), flush=True)


def resolve(ns, server, name):
    s = sock(ns, fam(server), socket.SOCK_DGRAM)
    s.settimeout(3)
    qid = random.randrange(65536)
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(x)]) + x.encode() for x in name.split(".")) + b"\0"
    q += struct.pack("!HH", 1, 1)
    s.sendto(q, (server, 53))
    try:
        m, peer = s.recvfrom(4096)
    except socket.timeout:
        return bad("resolve", "no answer from %s:53 in 3 s" % server)
    rid, flags, qd, an = struct.unpack("!HHHH", m[:8])
    if rid != qid:
        return bad("resolve", "answer id %d for query %d" % (rid, qid))
    _, o = dns_name(m, 12)
    o += 4
    addrs = []
    for _ in range(an):
        o += 2 if m[o] >= 0xC0 else len(dns_name(m, o)[0]) + 2
        t, c, ttl, ln = struct.unpack("!HHIH", m[o : o + 10])
        if t == 1:
            addrs.append(socket.inet_ntop(socket.AF_INET, m[o + 10 : o + 14]))
        o += 10 + ln
    print("resolve from=%s:%d rcode=%d %s" % (peer[0], peer[1], flags & 15, " ".join("addr=" + a for a in addrs)), flush=True)


def main(argv):
    cmd, a = argv[1], argv[2:]
    if cmd == "put-server":
        put_server(a[0])
    elif cmd == "dns-server":
        dns_server(a[0], a[1], a[2], a[3] if len(a) > 3 else None)
    elif cmd == "udp-echo-server":
        udp_echo_server(a[0], a[1], int(a[2]))
    elif cmd == "tcp-echo-server":
        tcp_echo_server(a[0], a[1], int(a[2]))
    elif cmd == "udp-echo":
        udp_echo(a[0], a[1], int(a[2]), int(a[3]))
    elif cmd == "udp-closed":
        udp_closed(a[0], a[1], int(a[2]))
    elif cmd == "tcp-echo":
        tcp_echo(a[0], a[1], int(a[2]), int(a[3]))
    elif cmd == "tcp-many":
        tcp_many(a[0], a[1], a[2], int(a[3]))
    elif cmd == "edge":
        edge(a[0], a[1], a[2], int(a[3]))
    elif cmd == "ra":
        ra(a[0], a[1])
    elif cmd == "dhcp6":
        dhcp6(a[0], a[1])
    elif cmd == "unreach":
        unreach(a[0], a[1])
    elif cmd == "resolve":
        resolve(a[0], a[1], a[2])
    else:
        print("nat-peer.py: unknown command %s" % cmd, file=sys.stderr)
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
