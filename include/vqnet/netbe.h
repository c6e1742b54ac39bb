/* SPDX-License-Identifier: MIT */
/*
 * vqnet network backends: where the frames of a virtio-net device go.
 *
 * A backend sees Ethernet frames and their offload metadata, never rings
 * or guest memory layouts (OpenVMM's endpoint, DPDK's virtio-user backend
 * ops). It serves N queue pairs; queue pair q is driven by one worker
 * thread of the device, which is the only caller of tx(q), rx(q) and
 * rx_fd(q). Calls for different queue pairs run concurrently, so state
 * shared between queue pairs is the backend's to protect. The other ops
 * run on the control thread while no worker is inside the backend, but
 * get_stats, which runs beside the workers (its counters are atomics).
 *
 * Backends in vqnet (one file each in lib/netbe/, user a directory):
 *   user   user-mode networking by socket translation (lib/netbe/nat/):
 *          each guest flow is a host socket; DHCP, DNS, hostfwd, IPv6
 *   slirp  user-mode networking through libslirp (NAT, DHCP, DNS, hostfwd)
 *   tap    a Linux TAP with IFF_VNET_HDR and IFF_MULTI_QUEUE
 *   loop   frames sent on queue pair q come back on queue pair q
 *   sink   frames are read to the last byte and dropped
 *   gen    frames are generated for the device to receive (benchmarks)
 *   dgram  each frame is one UDP datagram to a peer
 *
 * A new backend is one file: a constructor that fills struct netbe and an
 * ops table; add it to netbe_new()'s table (lib/netbe/netbe.c).
 *
 * Errors are negative errno values. Memory: a backend owns everything it
 * allocates and releases it in free().
 */
#ifndef VQNET_NETBE_H
#define VQNET_NETBE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

#include <vqnet/thread.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Offload metadata of one frame: the virtio_net_hdr fields in host order
 * (VIRTIO 1.2 §5.1.6; flags and gso_type use the VIRTIO_NET_HDR_* values
 * of lib/spec/virtio_net.h). All zero = a complete frame, checksums done. */
struct netbe_meta {
	uint8_t flags;	  /* NEEDS_CSUM (1), DATA_VALID (2) */
	uint8_t gso_type; /* NONE 0, TCPV4 1, UDP 3, TCPV6 4, | ECN 0x80 */
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
};

/* What a backend can take on transmit (tx) without the device finishing
 * the frame in software first, and what it may produce on receive once the
 * device allows it (set_rx_offloads). */
enum netbe_cap {
	NETBE_CAP_CSUM = 1u << 0, /* partial checksums (NEEDS_CSUM) */
	NETBE_CAP_TSO4 = 1u << 1, /* GSO_TCPV4 */
	NETBE_CAP_TSO6 = 1u << 2, /* GSO_TCPV6 */
	NETBE_CAP_ECN = 1u << 3,  /* GSO with the ECN bit */
	NETBE_CAP_UFO = 1u << 4,  /* GSO_UDP */
};
#define NETBE_CAP_ALL                                                                              \
	(NETBE_CAP_CSUM | NETBE_CAP_TSO4 | NETBE_CAP_TSO6 | NETBE_CAP_ECN | NETBE_CAP_UFO)

/* A frame to transmit: its bytes (Ethernet header first, no virtio-net
 * header) in guest memory, read-only, valid only during the tx() call. */
struct netbe_txpkt {
	const struct iovec *iov;
	unsigned iovcnt;
	uint32_t len; /* sum of the iov lengths */
	struct netbe_meta meta;
};

/* A receive buffer the device lends for one rx() call: the backend writes
 * one frame (Ethernet header first) at data and sets len and meta. The
 * device lends the same buffers (data, cap) on every call of a queue pair
 * and writes into a frame only to finish a checksum the backend left
 * partial (NEEDS_CSUM): a backend may reuse bytes it wrote before. */
struct netbe_rxbuf {
	uint8_t *data;
	uint32_t cap;		/* in: bytes available at data */
	uint32_t len;		/* out: frame length */
	struct netbe_meta meta; /* out; should hold only offloads allowed by
				   set_rx_offloads (the device finishes any other
				   in software: loop passes the sender's through) */
};

/* Zero-copy receive (rx_direct): receive buffers of the guest, lent for
 * one call, that the backend may write frames into straight from its
 * sockets, with no bounce buffer between. Only with mergeable receive
 * buffers (VIRTIO_NET_F_MRG_RXBUF, VIRTIO 1.2 §5.1.6.4), where a frame may
 * span several chains: a frame starts @hdr_room bytes into the first chain
 * not used yet (the device writes the virtio-net header before it) and
 * continues at byte 0 of the chains after; the part of its last chain it
 * does not fill stays unused. */
struct netbe_rxchain {
	const struct iovec *iov; /* the chain's writable buffers, guest memory */
	unsigned iovcnt;
	uint32_t len; /* sum of the iov lengths */
};

/* A frame written into the window. */
struct netbe_rxwin_frame {
	uint32_t len;	  /* frame bytes, Ethernet header first */
	uint32_t nchains; /* chains it takes, from the one after the previous frame's */
	struct netbe_meta meta;
};

struct netbe_rxwin {
	const struct netbe_rxchain *chains; /* in: in the guest's order */
	unsigned nchains;
	uint32_t hdr_room;		  /* in */
	struct netbe_rxwin_frame *frames; /* out: [max_frames] */
	unsigned max_frames;		  /* in */
	unsigned nframes;		  /* out: frames written (0 on entry) */
	unsigned chains_used;		  /* out: their chains (0 on entry) */
};

/* Counters a backend keeps (per queue pair; the device adds them up). */
struct netbe_stats {
	uint64_t tx_dropped; /* frames tx() could not send (peer queue full, EAGAIN, error) */
	uint64_t rx_dropped; /* frames lost inside the backend before the device saw them */
	uint64_t tx_errors;  /* send errors other than a full queue */
	uint64_t rx_errors;  /* receive errors (short reads, bad vnet headers) */
};

struct netbe;

struct netbe_ops {
	const char *name;
	/* NETBE_CAP_* the backend honours on tx and can produce on rx. */
	uint32_t (*caps)(struct netbe *be);
	/* The device's queue pairs: called once before any tx/rx with the
	 * number the device serves (>= 1, <= max_queue_pairs), and again when
	 * the active count changes (MQ_VQ_PAIRS_SET, SET_VRING_ENABLE); the
	 * backend may then spread receive traffic over queue pairs 0..n-1. */
	int (*set_queue_pairs)(struct netbe *be, unsigned n);
	/* Which offloads rx() may produce (a subset of caps(), from the
	 * guest's GUEST_* features; TAP: TUNSETOFFLOAD). */
	int (*set_rx_offloads)(struct netbe *be, uint32_t caps);
	/* Send @n frames from queue pair @q. Return the number sent; frames
	 * not sent are counted in the backend's tx_dropped (a backend never
	 * keeps a reference to the frame bytes after returning). */
	int (*tx)(struct netbe *be, unsigned q, const struct netbe_txpkt *pkts, unsigned n);
	/* Receive up to @n frames for queue pair @q into @bufs. Return the
	 * number filled (0: none now), or -errno on a fatal error. A frame
	 * larger than its buffer is dropped and counted (rx_dropped). */
	int (*rx)(struct netbe *be, unsigned q, struct netbe_rxbuf *bufs, unsigned n);
	/* An fd that is readable when rx(q) may have frames, or -1 when rx
	 * must be polled (the device then polls it on every worker turn). */
	int (*rx_fd)(struct netbe *be, unsigned q);
	/* Current link state. */
	bool (*link_up)(struct netbe *be);
	/* Counters of queue pair @q (copied into @out). Called on the control
	 * thread while the pair's worker runs: read each counter atomically. */
	void (*get_stats)(struct netbe *be, unsigned q, struct netbe_stats *out);
	/* Release everything. */
	void (*free)(struct netbe *be);
	/* Optional: the backend's own counters of queue pair @q, one line
	 * ending in a newline (user: flows and drops by reason), printed after
	 * the netbe_stats line. Called like get_stats. */
	void (*print_stats)(struct netbe *be, unsigned q, FILE *f);
	/* Optional: rx() with guest buffers lent as well (struct netbe_rxwin):
	 * the backend may write frames into @win's chains and fills @bufs as
	 * rx() does; the guest gets @win's frames first, then those of @bufs
	 * (so a flow whose data spills over to @bufs must stay there for the
	 * rest of the call). @win's frames carry only the offloads
	 * set_rx_offloads allowed and are addressed to the guest's MAC (the
	 * device does not copy them to finish them; a frame its filter
	 * rejects is completed empty and counted). Return as rx(): the
	 * number of @bufs filled. The device calls it instead of rx() when it
	 * can lend buffers (no rate limit, capture or dirty logging). */
	int (*rx_direct)(struct netbe *be, unsigned q, struct netbe_rxwin *win,
			 struct netbe_rxbuf *bufs, unsigned n);
	/* Optional: start the backend's threads (netbe_start()). */
	int (*start)(struct netbe *be);
};

/* A backend instance: ops plus its private state. */
struct netbe {
	const struct netbe_ops *ops;
	void *priv;
	unsigned max_queue_pairs; /* most queue pairs this instance can serve */
};

/* Options shared by the backends (each reads the ones it knows). */
struct netbe_options {
	unsigned max_queue_pairs; /* >= 1 */
	uint16_t mtu;		  /* the device MTU (largest frame = mtu + 14 + 4) */
	uint8_t guest_mac[6];	  /* the device's MAC (user, slirp, gen, rarp) */
	/* user, slirp: "tcp:HOSTPORT:GUESTPORT" or "udp:..." port forwards,
	 * host address 127.0.0.1 unless given as tcp:ADDR:HOSTPORT:GUESTPORT */
	const char *const *hostfwd;
	unsigned n_hostfwd;
	/* tap: fds passed in by the caller (one per queue pair), or NULL */
	const int *tap_fds;
	unsigned n_tap_fds;
	/* tap: one writev() per frame instead of a burst per io_uring_enter()
	 * (the default, when the kernel allows io_uring) */
	bool tap_writev;
	/* gen: frame size in bytes (Ethernet header included, no FCS) */
	uint32_t gen_frame_size;
	/* user: the host's DNS resolvers ("ADDR[:PORT]" or "[ADDR6][:PORT]",
	 * up to 3)
	 * instead of those of @resolv_conf (default /etc/resolv.conf) */
	const char *const *dns;
	unsigned n_dns;
	const char *resolv_conf;
	/* user, slirp: the guest's IPv4 network "ADDR/LEN" (8..27; default
	 * 10.0.2.0/24) and IPv6 prefix "PREFIX/64" (default fec0::/64); the
	 * gateway is host 2, DNS host 3, the guest's lease host 15 */
	const char *net4;
	const char *net6;
	/* user: most flows at once (0: 4096), and a UDP / ICMP flow's idle
	 * timeout in ms (0: 180 s) */
	unsigned max_flows;
	unsigned udp_idle_ms;
	/* user: how long a fragmented datagram of the guest may wait for its
	 * other fragments, in ms (0: 30 s, as Linux; tests lower it) */
	unsigned reasm_timeout_ms;
	/* user: the unsolicited router advertisement's period in ms, once
	 * the guest solicited one (0: 600 s; tests lower it) */
	unsigned ra_interval_ms;
	/* Start no thread until netbe_start(): for a caller that confines
	 * itself after opening the backend (capabilities and no_new_privs
	 * are per thread, so threads started before would keep them). */
	bool defer_threads;
	/* Called first in each thread the backend starts (slirp:
	 * "vqnet-slirp"), e.g. to confine it; see vqnet/thread.h. */
	struct vqnet_thread_hook thread_hook;
};

/**
 * netbe_new() - create a backend from its command-line spec:
 *   user | slirp | tap:IFNAME | loop | sink | gen | dgram:LADDR:LPORT,RADDR:RPORT
 * Return: 0 and *out (free with netbe_free()); -EINVAL with a one-line
 * reason in @err (size @errlen) for a bad spec; -errno when the backend
 * could not be opened (also with a reason in @err).
 */
int netbe_new(const char *spec, const struct netbe_options *opt, struct netbe **out, char *err,
	      size_t errlen);
void netbe_free(struct netbe *be);
/* Start the backend's own threads if netbe_options.defer_threads held
 * them back (slirp: its slirp thread); nothing for backends without
 * threads or already started. Return 0 or -errno. */
int netbe_start(struct netbe *be);

#ifdef __cplusplus
}
#endif
#endif
