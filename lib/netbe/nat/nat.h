/* SPDX-License-Identifier: MIT */
/*
 * The `user` backend (vqnetd's default; the module and its names keep the
 * nat prefix): user-mode networking by socket translation. There is
 * no TCP/IP stack here: each flow of the guest is mapped onto one socket
 * of the host kernel (a TCP connection onto a TCP socket, a UDP flow onto
 * a connected UDP socket, an ICMP echo onto a ping socket), and the few
 * link-level services a guest expects from a router (ARP, neighbour
 * discovery, DHCPv4, router advertisements, DHCPv6, DNS) are answered
 * here. docs/vqnetd.md "The user backend" has the design and the reasons.
 *
 * Threads. Queue pair q's worker is the only thread that touches pair q's
 * state (struct nat_pair): its flow table, its epoll set, its queue of
 * frames for the guest. tx(q) parses and answers the guest's frames;
 * rx(q) drains the queue of generated frames, then serves the sockets that
 * epoll reports ready, reading their data straight into the receive
 * buffers. A flow belongs to the pair that saw its first frame (the
 * guest's SYN, first datagram) or, for a flow the host starts (--hostfwd),
 * to the pair whose listening socket the kernel chose (SO_REUSEPORT
 * spreads them by hash). A frame that reaches another pair (a guest that
 * moved a flow to another transmit queue) is looked up in the shared
 * directory (a mutex, taken only on such a miss, on flow creation and
 * on flow removal) and handed to the owner through its hand-off queue.
 *
 * Memory: everything is allocated when the backend is created (flow
 * slots, queues, scratch buffers); the packet path allocates nothing.
 */
#ifndef VQNET_NETBE_NAT_H
#define VQNET_NETBE_NAT_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "vqnet/netbe.h"

/* ---- limits and defaults --------------------------------------------- */

#define NAT_MAX_PAIRS	    16
#define NAT_FLOWS_DEFAULT   4096u	    /* per backend, shared out evenly per pair */
#define NAT_HDR_MAX	    192u	    /* headers copied out of a guest frame */
#define NAT_OUT_SLOTS	    256u	    /* generated frames waiting for rx(), per pair */
#define NAT_UDP_ONE_BY_ONE  64u		    /* UDP datagrams read one at a time (udp.c) */
#define NAT_OUT_SLOT_BYTES  1600u	    /* largest generated frame (DHCP, ICMP errors) */
#define NAT_HANDOFF_SLOTS   16u		    /* frames from other pairs, per pair */
#define NAT_HANDOFF_BYTES   (65536u + 512u) /* a slot: the largest GSO frame */
#define NAT_MAX_DNS	    3u
#define NAT_MAX_FWD	    32u
#define NAT_UDP_IDLE_NS	    (180ull * 1000000000ull) /* a UDP flow's idle timeout */
#define NAT_ICMP_IDLE_NS    (60ull * 1000000000ull)
#define NAT_TCP_IDLE_NS	    (7200ull * 1000000000ull)
#define NAT_TIMER_PERIOD_MS 100 /* the pair's timer tick while a flow wants it */
/* Unsolicited router advertisements, once the guest solicited one: RFC
 * 4861 §6.2.1's default MaxRtrAdvInterval, well within the router
 * lifetime, so a guest that runs for days keeps its default route. */
#define NAT_RA_INTERVAL_MS (600u * 1000u)
/* IP fragments (reasm.c, frag.c; docs/vqnetd.md "IP fragments"). */
#define NAT_IP_MAX	     65535u		     /* an IPv4 packet, an IPv6 payload */
#define NAT_REASM_SLOTS	     4u			     /* datagrams reassembled at once, per pair */
#define NAT_REASM_TIMEOUT_NS (30ull * 1000000000ull) /* as Linux's ipfrag_time */
/* A contiguous copy of the largest datagram to the guest (headers too). */
#define NAT_BOUNCE_BYTES (65536u + 128u)

/* ---- addressing ------------------------------------------------------ */

/*
 * The network the guest sees (QEMU's and libslirp's defaults, so a guest
 * configured for vqnetd's slirp backend, libslirp, works unchanged): 10.0.2.0/24,
 * the guest 10.0.2.15, the gateway 10.0.2.2 (which is the host's loopback
 * for the guest), DNS 10.0.2.3; IPv6 fec0::/64 with fec0::2 and fec0::3 as
 * their twins and fe80::2 as the router's link-local address. IPv4
 * addresses are in network byte order, as in struct in_addr.
 */
struct nat_net {
	struct in_addr guest4, gw4, dns4, mask4;
	struct in6_addr guest6, gw6, dns6, gw6_ll, prefix6;
	uint8_t prefix6_len;
	uint8_t gw_mac[6];    /* the router's MAC (answers for gw4, dns4, gw6...) */
	uint8_t guest_mac[6]; /* the device's MAC: destination of our frames */
	uint16_t mtu;	      /* the device's MTU (IP packet, no Ethernet header) */
	/* The host's resolvers (from /etc/resolv.conf or --dns): where the
	 * guest's queries to dns4/dns6 go. AF_UNSPEC entries are unused. */
	struct sockaddr_storage dns_host[NAT_MAX_DNS];
	unsigned n_dns_host;
};

/*
 * A flow's key, as the guest sees it: its own address and port, the
 * remote address and port it talks to (before the gateway is mapped onto
 * the host's loopback), the IP protocol. IPv4 addresses are stored
 * IPv4-mapped (::ffff:a.b.c.d) so one key serves both families. ICMP echo
 * flows use the echo identifier as both ports.
 */
struct nat_key {
	struct in6_addr gaddr, raddr;
	uint16_t gport, rport; /* host order */
	uint8_t proto;	       /* IPPROTO_TCP, _UDP, _ICMP, _ICMPV6 */
	uint8_t v6;	       /* 1: IPv6, 0: IPv4 (mapped) */
};

/* ---- a parsed guest frame --------------------------------------------- */

/*
 * nat_parse() fills this from a frame the guest sent. The headers (up to
 * NAT_HDR_MAX bytes) are copied into hdr, so they can be read without
 * caring how the guest split the frame; the payload stays in guest memory
 * (iov, valid for the tx() call only) and is reached by offset.
 */
struct nat_pkt {
	uint8_t hdr[NAT_HDR_MAX];
	uint32_t hdr_len; /* bytes valid in hdr */
	const struct iovec *iov;
	unsigned iovcnt;
	uint32_t len; /* the whole frame */
	struct netbe_meta meta;
	uint16_t ethertype;
	uint8_t src_mac[6];
	uint8_t ipv;	  /* 4 or 6, 0 for ARP */
	uint8_t proto;	  /* transport protocol */
	uint8_t ttl;	  /* hop limit */
	uint32_t l3_off;  /* the IP (or ARP) header */
	uint32_t l4_off;  /* the transport header */
	uint32_t pay_off; /* the transport payload */
	uint32_t pay_len; /* its length (IP length, not the frame's) */
	struct nat_key key;
	/* TCP only (host order) */
	uint32_t seq, ack;
	uint16_t win;
	uint8_t tcp_flags;
	uint8_t wscale; /* 0xff: the option was absent */
	uint16_t mss;	/* 0: absent */
	bool sack_ok;	/* SACK permitted offered (we never use SACK) */
	uint8_t icmp_type, icmp_code;
	/* An IP fragment (frag set): nothing past the IP header was parsed;
	 * the fragment's data is pay_off/pay_len, proto the next header. */
	bool frag, frag_more;
	uint32_t frag_off; /* bytes */
	uint32_t frag_id;  /* IPv4's 16 bits, IPv6's 32 */
};

/* Why a frame was not used (counted per reason, see nat_pair.drops). */
enum nat_drop {
	NAT_DROP_NONE = 0,
	NAT_DROP_RUNT,	    /* shorter than its headers say */
	NAT_DROP_BAD_HDR,   /* a header field out of range */
	NAT_DROP_FRAGMENT,  /* a fragment that cannot be reassembled (reasm.c) */
	NAT_DROP_UNKNOWN,   /* an EtherType or protocol we do not serve */
	NAT_DROP_NOT_OURS,  /* addressed to someone else (wrong MAC, source) */
	NAT_DROP_FLOWS,	    /* flow table full */
	NAT_DROP_SOCKET,    /* the host refused a socket (errno logged) */
	NAT_DROP_NO_FLOW,   /* a segment for no flow (answered with RST) */
	NAT_DROP_OUT_FULL,  /* the queue of frames to the guest was full */
	NAT_DROP_HANDOFF,   /* the owning pair's hand-off queue was full */
	NAT_DROP_NOT_READY, /* nothing to answer yet (no DHCP lease asked...) */
	NAT_DROP_N
};
const char *nat_drop_name(enum nat_drop why);

/**
 * nat_parse() - parse a guest frame: Ethernet (no VLAN tag: the device
 * strips none, and a tagged frame is not ours), then ARP, or IPv4 / IPv6
 * (no extension headers but the Fragment header: hop-by-hop is refused)
 * and TCP / UDP / ICMP / ICMPv6 headers with their lengths checked against
 * the frame and the IP length. A fragment is parsed up to its IP header
 * (pkt->frag) and goes to reassembly (reasm.c). Checksums are not verified: the guest is
 * the only writer of these frames and the host kernel makes new ones.
 * Return: NAT_DROP_NONE and @p filled, or why the frame is dropped.
 */
enum nat_drop nat_parse(struct nat_pkt *p, const struct netbe_txpkt *tx);

/* ---- flows ------------------------------------------------------------- */

enum nat_flow_kind {
	NAT_FLOW_FREE = 0,
	NAT_FLOW_TCP,
	NAT_FLOW_UDP,
	NAT_FLOW_ICMP,
};

/* TCP state of one connection (tcp.c owns the fields). Sequence numbers
 * are host order; "our" side is the host socket's, the guest's the peer. */
struct nat_tcp_conn {
	uint8_t state;	    /* enum in tcp.c */
	uint8_t retries;    /* retransmissions since the guest last made progress */
	uint16_t flags;	    /* tcp.c's TF_* bits */
	uint8_t g_wscale;   /* the guest's window scale (0 without scaling) */
	uint8_t our_wscale; /* ours, announced in the SYN(-ACK) (0 without) */
	uint8_t dup_acks;
	uint8_t pad;
	uint16_t g_mss;		 /* the guest's MSS */
	uint16_t our_mss;	 /* the MSS we announced: the guest's segments to us */
	uint32_t g_win;		 /* the guest's window, scaled, bytes */
	uint32_t seq_to_guest;	 /* next sequence number we send */
	uint32_t seq_max;	 /* highest sequence number sent + 1 */
	uint32_t seq_acked;	 /* the guest acknowledged up to here */
	uint32_t seq_from_guest; /* next sequence number the guest sends */
	uint32_t isn;		 /* our initial sequence number */
	uint32_t sndbuf;	 /* the socket's SO_SNDBUF, as last read */
	uint32_t space;		 /* its free send space, estimated with a margin */
	uint32_t wnd_edge;	 /* the right edge of the window we last gave (TF_EDGE) */
	uint32_t ack_slot;	 /* out queue tail after our queued pure ACK */
	uint64_t rto_at_ns;	 /* retransmission deadline, 0: none */
	uint64_t idle_at_ns;	 /* reset when idle past this */
};

/* A UDP or ICMP echo flow (udp.c, icmp.c own the fields). */
struct nat_dgram_flow {
	uint64_t idle_at_ns; /* closed when idle past this */
	uint32_t dns;	     /* 1 + index into nat_net.dns_host when to dns4/6 */
	uint32_t fwd;	     /* 1 + index of the --hostfwd rule that made it */
	/* udp.c: datagrams still read one at a time since one was larger
	 * than a receive buffer (it went out in fragments); 0: batches. */
	uint32_t one_by_one;
};

struct nat_flow {
	struct nat_key key;
	uint8_t kind;	  /* enum nat_flow_kind */
	uint8_t pair;	  /* owner */
	uint8_t timer_on; /* flow.c: counted in the pair's timers_wanted */
	uint8_t pad;
	int fd;		       /* the host socket */
	uint32_t epoll_events; /* what the epoll set watches now */
	uint32_t next;	       /* hash chain / free list (index + 1, 0: end) */
	uint32_t hash;
	union {
		struct nat_tcp_conn tcp;
		struct nat_dgram_flow dg;
	};
};

/* Per-pair counters beyond struct netbe_stats (relaxed atomics: the
 * owning worker writes, anyone reads). */
struct nat_counters {
	uint64_t drops[NAT_DROP_N];
	uint64_t tcp_opened, tcp_refused, tcp_closed, tcp_reset;
	uint64_t udp_opened, udp_closed, icmp_opened;
	uint64_t handed_off;
	uint64_t fwd_accepted;
	/* IP fragments: taken in from the guest, datagrams made whole,
	 * datagrams given up (overlap, timeout, evicted, too large), and
	 * fragments sent to the guest. */
	uint64_t frags_in, reasm_done, reasm_failed, frags_out;
};

/* A datagram of the guest's being reassembled (reasm.c). Its payload sits
 * at buf + NAT_REASM_HDR; the Ethernet and IP headers of the fragment at
 * offset 0 are written in front of it when it completes. */
#define NAT_REASM_HDR 80u /* Ethernet + the longest IPv4 header, rounded */
struct nat_reasm {
	uint8_t *buf; /* NAT_REASM_HDR + NAT_IP_MAX */
	struct in6_addr src, dst;
	uint64_t expire_ns;
	uint32_t id;
	uint32_t total;	      /* payload bytes, known once the last fragment came (else 0) */
	uint32_t got;	      /* payload bytes received */
	uint8_t hdr[14 + 60]; /* the first fragment's Ethernet and IP headers */
	uint8_t hdr_len;      /* 0 until the fragment at offset 0 came */
	uint8_t proto, v6, used;
	struct iovec iov; /* the whole datagram, while the caller runs it */
	uint64_t blocks[(NAT_IP_MAX + 1) / 8 / 64]; /* 8-byte blocks received */
};

/* A generated frame waiting for rx() (ARP, DHCP, TCP control segments). */
struct nat_out_queue {
	uint8_t *slots; /* NAT_OUT_SLOTS * NAT_OUT_SLOT_BYTES */
	uint32_t len[NAT_OUT_SLOTS];
	struct netbe_meta meta[NAT_OUT_SLOTS];
	uint32_t head, tail; /* free-running, worker only */
};

/* Frames another pair handed over (a mutex: rare path). */
struct nat_handoff {
	pthread_mutex_t lock;
	uint8_t *slots; /* NAT_HANDOFF_SLOTS * NAT_HANDOFF_BYTES */
	uint32_t len[NAT_HANDOFF_SLOTS];
	struct netbe_meta meta[NAT_HANDOFF_SLOTS];
	uint32_t head, tail;
};

/* Guest datagrams of one UDP flow waiting for one sendmmsg() (udp.c):
 * empty whenever tx() or the hand-off run is not on the stack. */
#define NAT_UDP_TX_BATCH 32u   /* datagrams per sendmmsg() */
#define NAT_UDP_TX_IOV	 1024u /* their payload iovecs */
struct nat_udp_batch {
	unsigned n, niov;
	int fd;	       /* the flow's socket */
	uint32_t flow; /* the flow's slot in the pair's table */
	struct mmsghdr msg[NAT_UDP_TX_BATCH];
	struct iovec iov[NAT_UDP_TX_IOV];
};

struct nat;

struct nat_pair {
	struct nat *nat;
	unsigned index;
	int epfd;     /* the pair's sockets + wake_efd + timer_fd: rx_fd(q) */
	int wake_efd; /* generated frames or hand-offs wait */
	int timer_fd; /* NAT_TIMER_PERIOD_MS tick while timers_wanted */
	int ra_fd;    /* pair 0: the unsolicited RA's period, else -1 */
	bool timer_armed;
	unsigned timers_wanted; /* flows that need the tick */
	/* Flow table: slots, free list, hash buckets (index + 1). */
	struct nat_flow *flows;
	uint32_t nflows, cap, free_head, nbuckets;
	uint32_t *buckets;
	struct nat_out_queue out;
	struct nat_handoff handoff;
	uint32_t rx_offloads;	 /* NETBE_CAP_* the guest accepts */
	int fwd_fd[NAT_MAX_FWD]; /* this pair's --hostfwd listening sockets */
	struct netbe_stats stats;
	struct nat_counters cnt;
	struct nat_pkt scratch_pkt;
	struct nat_udp_batch udp_tx;
	struct netbe_rxwin *win; /* guest buffers lent for this rx_direct() call */
	struct nat_reasm reasm[NAT_REASM_SLOTS];
	uint8_t reasm_timer; /* reasm.c: a slot waits, the tick is wanted */
	uint8_t *bounce;     /* NAT_BOUNCE_BYTES: a datagram to fragment (udp.c, icmp.c) */
	uint16_t ip4_id;     /* the Identification of our IPv4 fragments */
	uint32_t ip6_id;     /* of our IPv6 ones */
};

/* A --hostfwd rule: host address and port -> guest port (fwd.c). */
struct nat_fwd_rule {
	uint8_t proto; /* IPPROTO_TCP or IPPROTO_UDP */
	struct sockaddr_storage host;
	socklen_t host_len;
	uint16_t guest_port;
	char spec[64]; /* as given (nat.c), for messages */
	/* Pair q's listener is edge-triggered while accept() hits EMFILE
	 * (written by pair q's worker only: one byte each). */
	uint8_t edge[NAT_MAX_PAIRS];
};

struct nat {
	struct netbe be;
	struct nat_net net;
	struct nat_pair *pairs;	       /* be.max_queue_pairs */
	_Atomic unsigned active_pairs; /* set_queue_pairs (workers paused) */
	uint32_t rx_offloads;
	struct nat_fwd_rule fwd[NAT_MAX_FWD];
	unsigned n_fwd;
	uint64_t udp_idle_ns;	   /* a UDP / ICMP flow's idle timeout */
	uint64_t reasm_timeout_ns; /* a fragmented datagram's wait (reasm.c) */
	uint32_t ra_interval_ms;
	_Atomic bool ra_wanted; /* the guest solicited an RA: it speaks IPv6 */
	/* The directory: which pair owns a key (flow creation, removal and
	 * a pair's miss only). */
	pthread_mutex_t dir_lock;
	struct nat_dir_entry *dir;
	uint32_t dir_cap;
};

/* ---- epoll data: what a ready fd is ------------------------------------ */

enum nat_ev_kind { NAT_EV_FLOW = 1, NAT_EV_WAKE, NAT_EV_TIMER, NAT_EV_FWD, NAT_EV_RA };
static inline uint64_t nat_ev(enum nat_ev_kind k, uint32_t idx)
{
	return (uint64_t)k << 32 | idx;
}

/* ---- flow table (flow.c) ---------------------------------------------- */

uint32_t nat_key_hash(const struct nat_key *k);
/* Keys are compared field by field (their padding is not part of them). */
bool nat_key_eq(const struct nat_key *a, const struct nat_key *b);
/* The flow of @k owned by pair @p, or NULL. */
struct nat_flow *nat_flow_find(struct nat_pair *p, const struct nat_key *k);
/* A new flow for @k of @kind with socket @fd (taken over: closed with the
 * flow), registered in the pair's epoll for @events and in the directory.
 * Return: the flow, or NULL when the table is full (the caller counts
 * NAT_DROP_FLOWS and closes @fd). */
struct nat_flow *nat_flow_add(struct nat_pair *p, const struct nat_key *k, uint8_t kind, int fd,
			      uint32_t events);
/* Change what the epoll set watches for @f (no syscall when unchanged). */
int nat_flow_watch(struct nat_pair *p, struct nat_flow *f, uint32_t events);
/* Close the socket, leave the directory, free the slot. */
void nat_flow_del(struct nat_pair *p, struct nat_flow *f);
static inline uint32_t nat_flow_idx(const struct nat_pair *p, const struct nat_flow *f)
{
	return (uint32_t)(f - p->flows);
}
/* Ask for (or stop asking for) the pair's timer tick for flow @f: the
 * tick (nat_tcp_tick / nat_dgram_tick every NAT_TIMER_PERIOD_MS) runs
 * while any flow of the pair wants it. Idempotent; nat_flow_del() clears
 * it, so a flow that goes away needs no call. */
void nat_timer_want(struct nat_pair *p, struct nat_flow *f, bool on);
/* The same for a want other than a flow's, kept in *@held. */
void nat_timer_hold(struct nat_pair *p, uint8_t *held, bool on);

/* ---- frames to the guest (build.c) ------------------------------------ */

/*
 * Reserve a slot of the pair's out queue for a generated frame; NULL when
 * full (the caller counts NAT_DROP_OUT_FULL). Commit with its length (and
 * metadata, usually zero).
 */
uint8_t *nat_out_reserve(struct nat_pair *p);
void nat_out_commit(struct nat_pair *p, uint32_t len, const struct netbe_meta *meta);

/*
 * Write the Ethernet and IP headers of a packet from @k's remote end to
 * the guest (source: raddr, destination: gaddr; the IP header's length
 * fields for @l4_len bytes of transport header and payload, TTL 64, DF
 * for IPv4) at @buf. Return: the offset of the transport header.
 */
uint32_t nat_build_ip(const struct nat_pair *p, uint8_t *buf, const struct nat_key *k,
		      uint32_t l4_len);
/* The same with TTL / hop limit @ttl (NDP needs 255, RFC 4861 §6.1.2). */
uint32_t nat_build_ip_ttl(const struct nat_pair *p, uint8_t *buf, const struct nat_key *k,
			  uint32_t l4_len, uint8_t ttl);
/* The Ethernet header alone (to the guest, from gw_mac) with @ethertype. */
void nat_build_eth(const struct nat_pair *p, uint8_t *buf, uint16_t ethertype);
/*
 * Fill the transport checksum of the packet built at @buf (l4 at @l4_off,
 * @l4_len bytes, protocol @proto from the IP header): complete when the
 * guest did not allow partial checksums, else the pseudo-header sum and
 * NEEDS_CSUM in @meta (csum_start, csum_offset set).
 */
void nat_build_l4_csum(const struct nat_pair *p, uint8_t *buf, uint32_t l4_off, uint32_t l4_len,
		       struct netbe_meta *meta);
/* Always complete (for generated frames that go through the out queue). */
void nat_build_l4_csum_full(uint8_t *buf, uint32_t l4_off, uint32_t l4_len);

/* ---- IP fragments ------------------------------------------------------ */

/*
 * reasm.c: the guest's fragment @pkt (pkt->frag) into its datagram. When
 * it completes one, *@whole is that datagram as an unfragmented frame
 * (valid until nat_reasm_release()), else whole->len is 0. Return:
 * NAT_DROP_NONE when the fragment was kept, else why not (the datagram it
 * belonged to is given up and counted in reasm_failed).
 */
enum nat_drop nat_reasm_input(struct nat_pair *p, const struct nat_pkt *pkt,
			      struct netbe_txpkt *whole);
void nat_reasm_release(struct nat_pair *p, const struct netbe_txpkt *whole);
/* The timer tick: datagrams past their time are given up, and the guest
 * told of those whose first fragment came (ICMP time exceeded). */
void nat_reasm_tick(struct nat_pair *p, uint64_t now);
int nat_reasm_init(struct nat_pair *p);
void nat_reasm_fini(struct nat_pair *p);

/*
 * frag.c: the IP packet to the guest @frame (@len bytes, its headers as
 * nat_build_ip() writes them) into the out queue, as one frame or, when
 * larger than the MTU or an out-queue slot, as IP fragments. Its transport
 * checksum is computed here, complete (a fragment cannot carry a partial
 * one), whatever the field held.
 * Return: false (nothing queued) when the out queue has no room for all,
 * or the packet is more than an IP length field holds.
 */
bool nat_frag_out(struct nat_pair *p, uint8_t *frame, uint32_t len);
/*
 * Receiving a datagram that may exceed its buffer (udp.c, icmp.c): the
 * iovecs (2) for @room bytes at @data + @hl, @hl being its headers' room,
 * then the pair's bounce at that same offset past @room. Once received
 * (@len bytes, the first @head in @data), nat_bounce_whole() gives the
 * frame to build the headers in: @data when all of it is there, else the
 * bounce, the head copied in front of the tail.
 */
unsigned nat_bounce_iov(struct nat_pair *p, uint8_t *data, uint32_t hl, uint32_t room,
			struct iovec *iov);
uint8_t *nat_bounce_whole(struct nat_pair *p, uint8_t *data, uint32_t hl, uint32_t head,
			  uint32_t len);

/* ---- protocol handlers ------------------------------------------------ */

/* Guest -> host: one parsed frame on pair @p. Each returns NAT_DROP_NONE
 * when the frame was used (or answered), else why it was dropped. */
enum nat_drop nat_arp_input(struct nat_pair *p, const struct nat_pkt *pkt);
enum nat_drop nat_ndp_input(struct nat_pair *p, const struct nat_pkt *pkt);   /* ICMPv6 NS/RS */
enum nat_drop nat_dhcp_input(struct nat_pair *p, const struct nat_pkt *pkt);  /* UDP to 67 */
enum nat_drop nat_dhcp6_input(struct nat_pair *p, const struct nat_pkt *pkt); /* UDP to 547 */
/* Queue a Router Advertisement (ndp.c) to @dst (the all-nodes group
 * ff02::1 for an unsolicited one: then @mac may be NULL), Ethernet
 * destination @mac for a unicast @dst. For a periodic RA from the core's
 * timer, should guests need their router lifetime (65535 s) refreshed. */
enum nat_drop nat_ndp_ra(struct nat_pair *p, const struct in6_addr *dst, const uint8_t *mac);
/* The periodic unsolicited RA to all nodes (pair 0's ra_fd), once the
 * guest has solicited one. */
void nat_ndp_ra_periodic(struct nat_pair *p);
enum nat_drop nat_tcp_input(struct nat_pair *p, const struct nat_pkt *pkt);
enum nat_drop nat_udp_input(struct nat_pair *p, const struct nat_pkt *pkt);
/* Send the guest datagrams nat_udp_input() batched (before tx() returns:
 * their payload is guest memory). */
void nat_udp_flush(struct nat_pair *p);
enum nat_drop nat_icmp_input(struct nat_pair *p, const struct nat_pkt *pkt); /* echo, v4 and v6 */

/*
 * Host -> guest: the flow's socket is ready (@events from epoll). Fill up
 * to @n of @bufs with frames for the guest (data read straight into
 * them), queue control frames with nat_out_reserve(). Return the number
 * of @bufs filled. When @bufs run out with data left, return; epoll is
 * level-triggered, so the flow is reported again.
 */
unsigned nat_tcp_ready(struct nat_pair *p, struct nat_flow *f, uint32_t events,
		       struct netbe_rxbuf *bufs, unsigned n);
unsigned nat_udp_ready(struct nat_pair *p, struct nat_flow *f, uint32_t events,
		       struct netbe_rxbuf *bufs, unsigned n);
unsigned nat_icmp_ready(struct nat_pair *p, struct nat_flow *f, uint32_t events,
			struct netbe_rxbuf *bufs, unsigned n);
/* The pair's timer tick (every NAT_TIMER_PERIOD_MS while wanted). */
void nat_tcp_tick(struct nat_pair *p, struct nat_flow *f, uint64_t now_ns);
void nat_dgram_tick(struct nat_pair *p, struct nat_flow *f, uint64_t now_ns);
/* The flow is being removed (backend freed, pairs reduced): no frames. */
void nat_tcp_drop(struct nat_pair *p, struct nat_flow *f);
/* Tests: @on makes tcp.c's new sockets work as on a kernel without
 * SO_PEEK_OFF for TCP (before Linux 6.10: each peek starts at the front
 * and reads past what the guest has) and discard acknowledged data by
 * reading it; off probes the kernel again. */
void nat_tcp_test_fallbacks(bool on);

/* --hostfwd (fwd.c): open this pair's listening sockets; accept one. */
int nat_fwd_open(struct nat_pair *p, char *err, size_t errlen);
void nat_fwd_close(struct nat_pair *p);
/* A listening socket of rule @rule is ready: accept (TCP) or read (UDP). */
unsigned nat_fwd_ready(struct nat_pair *p, unsigned rule, struct netbe_rxbuf *bufs, unsigned n);
/* TCP: start a connection to the guest for the accepted socket @fd from
 * @peer (tcp.c): a flow in SYN_SENT toward the guest. @fd (non-blocking)
 * is taken over: on failure (NAT_DROP_FLOWS) tcp.c has closed it. */
enum nat_drop nat_tcp_open_to_guest(struct nat_pair *p, int fd, const struct nat_key *k);

/* Parse a --hostfwd rule ("tcp|udp:[HOSTADDR:]HOSTPORT:GUESTPORT", HOSTADDR
 * IPv4 or [IPv6]). Return 0 or -EINVAL with a reason in @err. */
int nat_fwd_parse(const char *spec, struct nat_fwd_rule *out, char *err, size_t errlen);

/* DNS (dns.c): read the host's resolvers from @resolv_conf (loopback
 * resolvers are fine: the socket is ours), at most NAT_MAX_DNS. */
int nat_dns_load(struct nat_net *net, const char *resolv_conf);
/* The host address a flow to @k's remote end really goes to: the gateway
 * becomes the loopback, dns4/dns6 become the first host resolver (port
 * kept), anything else is itself. Return its length, 0 when there is no
 * such address (dns without resolvers). */
socklen_t nat_remote_sockaddr(const struct nat_net *net, const struct nat_key *k,
			      struct sockaddr_storage *out);

/* Big-endian (network order) fields of headers and messages. */
static inline uint16_t nat_rd16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}
static inline uint32_t nat_rd32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}
static inline void nat_wr16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}
static inline void nat_wr32(uint8_t *b, uint32_t v)
{
	nat_wr16(b, (uint16_t)(v >> 16));
	nat_wr16(b + 2, (uint16_t)v);
}

/* Helpers shared by the handlers. */
static inline bool nat_key_is_v4(const struct nat_key *k)
{
	return !k->v6;
}
static inline void nat_v4_to_mapped(struct in6_addr *out, struct in_addr a)
{
	memset(out, 0, 10);
	out->s6_addr[10] = 0xff;
	out->s6_addr[11] = 0xff;
	memcpy(&out->s6_addr[12], &a, 4);
}
static inline struct in_addr nat_mapped_to_v4(const struct in6_addr *a)
{
	struct in_addr r;

	memcpy(&r, &a->s6_addr[12], 4);
	return r;
}
static inline void nat_count(uint64_t *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}
static inline enum nat_drop nat_drop_count(struct nat_pair *p, enum nat_drop why)
{
	if (why != NAT_DROP_NONE)
		nat_count(&p->cnt.drops[why]);
	return why;
}

/* ---- datagram flows: what udp.c, icmp.c and fwd.c share (udp.c) -------- */

/* @len bytes of the guest's frame from offset @off as an iovec list in
 * @out (@cap entries). Return: the entries, -1 when the frame is shorter
 * or needs more than @cap. */
int nat_pkt_iov(const struct nat_pkt *pkt, uint32_t off, uint32_t len, struct iovec *out,
		unsigned cap);
/* A nonblocking datagram socket of @proto (IPPROTO_UDP, _ICMP, _ICMPV6)
 * connected to nat_remote_sockaddr(@k) in *@fd, or why not (*@fd is then
 * -errno; nothing logged). */
enum nat_drop nat_dgram_socket(struct nat_pair *p, const struct nat_key *k, int proto, int *fd);
/* A new UDP or ICMP flow for @k with @fd (closed on failure), watched for
 * EPOLLIN, its idle timer running; NULL when the table is full (the
 * caller counts NAT_DROP_FLOWS). Counts udp_opened / icmp_opened. */
struct nat_flow *nat_dgram_add(struct nat_pair *p, const struct nat_key *k, uint8_t kind, int fd);
/* The flow carried a datagram at @now_ns: push its idle deadline. */
void nat_dgram_touch(const struct nat_pair *p, struct nat_flow *f, uint64_t now_ns);
/* Log a host socket failure (rate limited per worker thread). */
void nat_log_sock(const char *what, int err);
/* UDP frames to the guest: the header bytes before the payload, the
 * payload room in a buffer of @cap bytes (the MTU too), and the headers
 * written in front of @len payload bytes already at that offset. */
uint32_t nat_udp_hdr_len(const struct nat_key *k);
uint32_t nat_udp_room(const struct nat_pair *p, const struct nat_key *k, uint32_t cap);
void nat_udp_finish(const struct nat_pair *p, struct netbe_rxbuf *b, const struct nat_key *k,
		    uint32_t len);
/* Receive iovecs for a datagram of @k into @b (2 entries): the payload
 * room of the buffer, then the pair's bounce right after where the same
 * headers and that room would end in it, so a datagram that spilled over is
 * whole once its head is copied over (nat_udp_spill()). */
unsigned nat_udp_rx_iov(struct nat_pair *p, const struct nat_key *k, const struct netbe_rxbuf *b,
			struct iovec *iov);
/* Datagram of @len bytes of flow @f whose first @head are in @b (the rest,
 * if any, in the bounce where nat_udp_rx_iov() put it) to the guest through
 * the out queue: whole or in fragments (counted in rx_dropped when
 * nat_frag_out() refuses it). The frame is built in @b when it fits there (the
 * caller does not hand @b out), else in the bounce. The flow reads one by
 * one from now on. */
void nat_udp_spill(struct nat_pair *p, struct nat_flow *f, const struct netbe_rxbuf *b,
		   uint32_t head, uint32_t len);
/* icmp.c: a destination unreachable to the guest from the remote end of
 * its UDP or TCP flow @k, for the host socket's error @err: ECONNREFUSED port,
 * ENETUNREACH net (no route), EHOSTUNREACH host (address), EACCES/EPERM
 * administratively prohibited. False (nothing sent) for other errors. */
bool nat_icmp_unreach(struct nat_pair *p, const struct nat_key *k, int err);
/* The same for the TCP flow @k whose SYN had sequence number @seq. */
bool nat_icmp_unreach_seq(struct nat_pair *p, const struct nat_key *k, uint32_t seq, int err);
/* An ICMP (ICMPv6 for an IPv6 @k) error @type / @code to the guest from
 * k->raddr, quoting @quote_len (at most 128) bytes of the guest's packet
 * at @quote. False when the out queue is full (counted). */
bool nat_icmp_error(struct nat_pair *p, const struct nat_key *k, uint8_t type, uint8_t code,
		    const uint8_t *quote, uint32_t quote_len);

#endif
