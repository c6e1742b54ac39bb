/* SPDX-License-Identifier: MIT */
/*
 * The flow table of a queue pair and the directory shared by the pairs.
 *
 * A pair's table is a fixed array of flows (its share of the backend's
 * flow limit), a free list and hash buckets chained through the flows
 * themselves: lookups on the packet path touch only the pair's memory and
 * take no lock. The directory maps every live key to its owning pair; it
 * is written when a flow is added or removed (both already cost a socket
 * call) and read only when a pair misses in its own table, so its mutex
 * is never taken for a frame of a known flow (nat.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "nat.h"
#include "nat_priv.h"

static inline uint32_t mix(uint32_t h, uint32_t v)
{
	h ^= v;
	h *= 0x9e3779b1u;
	return h ^ (h >> 16);
}

uint32_t nat_key_hash(const struct nat_key *k)
{
	uint32_t h = 0x811c9dc5u, w;

	for (unsigned i = 0; i < 16; i += 4) {
		memcpy(&w, &k->gaddr.s6_addr[i], 4);
		h = mix(h, w);
		memcpy(&w, &k->raddr.s6_addr[i], 4);
		h = mix(h, w);
	}
	h = mix(h, (uint32_t)k->gport << 16 | k->rport);
	return mix(h, (uint32_t)k->proto << 8 | k->v6);
}

bool nat_key_eq(const struct nat_key *a, const struct nat_key *b)
{
	return a->gport == b->gport && a->rport == b->rport && a->proto == b->proto &&
	       a->v6 == b->v6 && !memcmp(&a->gaddr, &b->gaddr, 16) &&
	       !memcmp(&a->raddr, &b->raddr, 16);
}

/* ---- a pair's table ----------------------------------------------------- */

int nat_flows_init(struct nat_pair *p, uint32_t cap)
{
	uint32_t nb = 16;

	while (nb < cap * 2)
		nb *= 2;
	p->flows = calloc(cap, sizeof(*p->flows));
	p->buckets = calloc(nb, sizeof(*p->buckets));
	if (!p->flows || !p->buckets)
		return -ENOMEM;
	p->cap = cap;
	p->nbuckets = nb;
	p->nflows = 0;
	/* Free list in index order: the first flows are the lowest slots. */
	for (uint32_t i = 0; i < cap; i++) {
		p->flows[i].fd = -1;
		p->flows[i].next = i + 1 < cap ? i + 2 : 0;
	}
	p->free_head = cap ? 1 : 0;
	return 0;
}

void nat_flows_fini(struct nat_pair *p)
{
	free(p->flows);
	free(p->buckets);
	p->flows = NULL;
	p->buckets = NULL;
	p->cap = p->nflows = 0;
}

struct nat_flow *nat_flow_find(struct nat_pair *p, const struct nat_key *k)
{
	uint32_t h = nat_key_hash(k);

	for (uint32_t i = p->buckets[h & (p->nbuckets - 1)]; i; i = p->flows[i - 1].next) {
		struct nat_flow *f = &p->flows[i - 1];

		if (f->hash == h && nat_key_eq(&f->key, k))
			return f;
	}
	return NULL;
}

static void bucket_unlink(struct nat_pair *p, struct nat_flow *f)
{
	uint32_t *link = &p->buckets[f->hash & (p->nbuckets - 1)];
	uint32_t want = nat_flow_idx(p, f) + 1;

	while (*link && *link != want)
		link = &p->flows[*link - 1].next;
	if (*link)
		*link = f->next;
}

struct nat_flow *nat_flow_add(struct nat_pair *p, const struct nat_key *k, uint8_t kind, int fd,
			      uint32_t events)
{
	struct epoll_event ev = {.events = events};
	struct nat_flow *f;
	uint32_t idx, b;

	if (!p->free_head || nat_dir_add(p->nat, k, p->index, p->free_head - 1) < 0)
		return NULL;
	idx = p->free_head - 1;
	f = &p->flows[idx];
	p->free_head = f->next;
	memset(f, 0, sizeof(*f));
	f->key = *k;
	f->kind = kind;
	f->pair = (uint8_t)p->index;
	f->fd = fd;
	f->hash = nat_key_hash(k);
	ev.data.u64 = nat_ev(NAT_EV_FLOW, idx);
	if (fd >= 0 && epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		nat_dir_del(p->nat, k);
		f->kind = NAT_FLOW_FREE;
		f->fd = -1;
		f->next = p->free_head;
		p->free_head = idx + 1;
		return NULL;
	}
	f->epoll_events = events;
	b = f->hash & (p->nbuckets - 1);
	f->next = p->buckets[b];
	p->buckets[b] = idx + 1;
	p->nflows++;
	return f;
}

int nat_flow_watch(struct nat_pair *p, struct nat_flow *f, uint32_t events)
{
	struct epoll_event ev = {.events = events,
				 .data.u64 = nat_ev(NAT_EV_FLOW, nat_flow_idx(p, f))};

	if (f->epoll_events == events || f->fd < 0)
		return 0;
	if (epoll_ctl(p->epfd, EPOLL_CTL_MOD, f->fd, &ev) < 0)
		return -errno;
	f->epoll_events = events;
	return 0;
}

void nat_flow_del(struct nat_pair *p, struct nat_flow *f)
{
	uint32_t idx = nat_flow_idx(p, f);

	if (f->kind == NAT_FLOW_FREE)
		return;
	nat_timer_want(p, f, false);
	if (f->fd >= 0)
		close(f->fd); /* leaves the epoll set with its last reference */
	nat_dir_del(p->nat, &f->key);
	bucket_unlink(p, f);
	f->kind = NAT_FLOW_FREE;
	f->fd = -1;
	f->next = p->free_head;
	p->free_head = idx + 1;
	p->nflows--;
}

/* ---- the timer tick ----------------------------------------------------- */

static void timer_arm(struct nat_pair *p, bool on)
{
	struct itimerspec its = {0};

	if (on == p->timer_armed)
		return;
	if (on) {
		its.it_value.tv_nsec = NAT_TIMER_PERIOD_MS * 1000000L;
		its.it_interval = its.it_value;
	}
	if (timerfd_settime(p->timer_fd, 0, &its, NULL) == 0)
		p->timer_armed = on;
}

void nat_timer_hold(struct nat_pair *p, uint8_t *held, bool on)
{
	if (!!*held == on)
		return;
	*held = on;
	if (on)
		p->timers_wanted++;
	else
		p->timers_wanted--;
	timer_arm(p, p->timers_wanted > 0);
}

void nat_timer_want(struct nat_pair *p, struct nat_flow *f, bool on)
{
	nat_timer_hold(p, &f->timer_on, on);
}

/* ---- the directory ------------------------------------------------------ */

/* Open addressing with tombstones, sized for every flow of every pair at
 * half load; under dir_lock. */
int nat_dir_init(struct nat *nat, uint32_t total_flows)
{
	uint32_t cap = 16;

	while (cap < total_flows * 2)
		cap *= 2;
	nat->dir = calloc(cap, sizeof(*nat->dir));
	if (!nat->dir)
		return -ENOMEM;
	nat->dir_cap = cap;
	return pthread_mutex_init(&nat->dir_lock, NULL) ? -ENOMEM : 0;
}

void nat_dir_fini(struct nat *nat)
{
	if (nat->dir)
		pthread_mutex_destroy(&nat->dir_lock);
	free(nat->dir);
	nat->dir = NULL;
}

/* The slot of @k, or of the first free/tombstone slot on its probe path
 * when absent (*found false). */
static struct nat_dir_entry *dir_probe(struct nat *nat, const struct nat_key *k, bool *found)
{
	uint32_t mask = nat->dir_cap - 1, i = nat_key_hash(k) & mask;
	struct nat_dir_entry *free_slot = NULL;

	for (uint32_t n = 0; n < nat->dir_cap; n++, i = (i + 1) & mask) {
		struct nat_dir_entry *e = &nat->dir[i];

		if (e->state == NAT_DIR_EMPTY) {
			*found = false;
			return free_slot ? free_slot : e;
		}
		if (e->state == NAT_DIR_GONE) {
			if (!free_slot)
				free_slot = e;
		} else if (nat_key_eq(&e->key, k)) {
			*found = true;
			return e;
		}
	}
	*found = false;
	return free_slot;
}

int nat_dir_add(struct nat *nat, const struct nat_key *k, unsigned pair, uint32_t idx)
{
	struct nat_dir_entry *e;
	bool found;
	int rc = 0;

	pthread_mutex_lock(&nat->dir_lock);
	e = dir_probe(nat, k, &found);
	if (found || !e) {
		rc = found ? -EEXIST : -ENOSPC;
	} else {
		e->key = *k;
		e->pair = (uint8_t)pair;
		e->idx = idx;
		e->state = NAT_DIR_USED;
	}
	pthread_mutex_unlock(&nat->dir_lock);
	return rc;
}

void nat_dir_del(struct nat *nat, const struct nat_key *k)
{
	struct nat_dir_entry *e;
	bool found;

	pthread_mutex_lock(&nat->dir_lock);
	e = dir_probe(nat, k, &found);
	if (found) {
		uint32_t mask = nat->dir_cap - 1, i = (uint32_t)(e - nat->dir);

		e->state = NAT_DIR_GONE;
		/* A tombstone right before an empty slot ends no probe path:
		 * empty it, and the ones before it, so churn cannot fill the
		 * table with tombstones. */
		while (nat->dir[i].state == NAT_DIR_GONE &&
		       nat->dir[(i + 1) & mask].state == NAT_DIR_EMPTY) {
			nat->dir[i].state = NAT_DIR_EMPTY;
			i = (i - 1) & mask;
		}
	}
	pthread_mutex_unlock(&nat->dir_lock);
}

int nat_dir_owner(struct nat *nat, const struct nat_key *k)
{
	struct nat_dir_entry *e;
	bool found;
	int owner = -1;

	pthread_mutex_lock(&nat->dir_lock);
	e = dir_probe(nat, k, &found);
	if (found)
		owner = e->pair;
	pthread_mutex_unlock(&nat->dir_lock);
	return owner;
}
