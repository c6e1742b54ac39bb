/* SPDX-License-Identifier: MIT */
/*
 * Token buckets (lib/net_dev/rate_limit.h).
 *
 * Theory of operation: a bucket holds up to @size tokens and gains @rate
 * per second. Refilling is lazy: at each call the tokens earned since
 * last_ns are added, and last_ns moves forward only by the time those
 * whole tokens took (rounded up), so fractions of a token are never lost
 * nor created. All products go through 128-bit arithmetic, so neither a
 * huge rate nor a clock jump of centuries overflows; a clock that goes
 * backwards earns nothing. A frame larger than the bucket passes when the
 * bucket is full and empties it (cloud-hypervisor does the same), so
 * nothing waits forever.
 */
#include <errno.h>
#include <string.h>

#include "base/compiler.h"
#include "net_dev/rate_limit.h"

#define NS_PER_SEC 1000000000u

typedef unsigned __int128 u128;

static void bucket_init(struct net_dev_bucket *b, uint64_t rate, uint64_t burst, uint64_t now_ns)
{
	b->rate = rate;
	b->size = rate ? (burst ? burst : rate) : 0;
	b->tokens = b->size;
	b->last_ns = now_ns;
}

/* Tokens earned between last_ns and @now_ns, capped at what fits, and the
 * nanoseconds they took (rounded up, never more than elapsed). */
static uint64_t bucket_earned(const struct net_dev_bucket *b, uint64_t now_ns, uint64_t *took_ns)
{
	uint64_t room = b->size - b->tokens;
	u128 earned;

	*took_ns = 0;
	if (!b->rate || now_ns <= b->last_ns || !room)
		return 0;
	uint64_t elapsed = now_ns - b->last_ns;
	earned = (u128)elapsed * b->rate / NS_PER_SEC;
	if (earned >= room) {
		*took_ns = elapsed; /* full: any fraction beyond is dropped */
		return room;
	}
	*took_ns = (uint64_t)(((u128)earned * NS_PER_SEC + b->rate - 1) / b->rate);
	return (uint64_t)earned;
}

static void bucket_refill(struct net_dev_bucket *b, uint64_t now_ns)
{
	uint64_t took;
	uint64_t earned = bucket_earned(b, now_ns, &took);

	b->tokens += earned;
	b->last_ns += took;
	if (b->tokens == b->size && now_ns > b->last_ns)
		b->last_ns = now_ns;
}

/* Tokens a frame of @n needs from @b: the whole bucket at most. */
static uint64_t bucket_need(const struct net_dev_bucket *b, uint64_t n)
{
	return n < b->size ? n : b->size;
}

/* Nanoseconds from @now_ns until @b holds @need tokens. */
static uint64_t bucket_wait(const struct net_dev_bucket *b, uint64_t need, uint64_t now_ns)
{
	if (!b->rate || b->tokens >= need)
		return 0;
	/* tokens + floor((t - last) * rate / 1e9) >= need */
	u128 dt = ((u128)(need - b->tokens) * NS_PER_SEC + b->rate - 1) / b->rate;
	u128 at = (u128)b->last_ns + dt;
	if (at <= now_ns)
		return 0;
	at -= now_ns;
	return at > UINT64_MAX ? UINT64_MAX : (uint64_t)at;
}

/**
 * net_dev_limiter_init() - buckets from @r (a burst of 0 means one second's
 * worth), full at @now_ns.
 */
void net_dev_limiter_init(struct net_dev_limiter *rl, const struct net_dev_rate *r, uint64_t now_ns)
{
	bucket_init(&rl->bytes, r->bytes_per_sec, r->bytes_burst, now_ns);
	bucket_init(&rl->pkts, r->pkts_per_sec, r->pkts_burst, now_ns);
}

/** net_dev_limiter_unlimited() - true when neither bucket has a rate. */
bool net_dev_limiter_unlimited(const struct net_dev_limiter *rl)
{
	return !rl->bytes.rate && !rl->pkts.rate;
}

/**
 * net_dev_limiter_consume() - take one packet and @bytes bytes of tokens.
 * Return: true (tokens taken) or false (none taken: wait
 * net_dev_limiter_wait_ns()).
 */
bool net_dev_limiter_consume(struct net_dev_limiter *rl, uint64_t bytes, uint64_t now_ns)
{
	bucket_refill(&rl->bytes, now_ns);
	bucket_refill(&rl->pkts, now_ns);
	if (rl->bytes.rate && rl->bytes.tokens < bucket_need(&rl->bytes, bytes))
		return false;
	if (rl->pkts.rate && rl->pkts.tokens < bucket_need(&rl->pkts, 1))
		return false;
	if (rl->bytes.rate)
		rl->bytes.tokens -= bucket_need(&rl->bytes, bytes);
	if (rl->pkts.rate)
		rl->pkts.tokens -= bucket_need(&rl->pkts, 1);
	return true;
}

/**
 * net_dev_limiter_wait_ns() - how long until a frame of @bytes could pass.
 * Return: nanoseconds (0 = now; UINT64_MAX at most).
 */
uint64_t net_dev_limiter_wait_ns(const struct net_dev_limiter *rl, uint64_t bytes, uint64_t now_ns)
{
	uint64_t wb = bucket_wait(&rl->bytes, bucket_need(&rl->bytes, bytes), now_ns);
	uint64_t wp = bucket_wait(&rl->pkts, bucket_need(&rl->pkts, 1), now_ns);
	return wb > wp ? wb : wp;
}

/* Parse decimal digits and a suffix from @allowed at *@s into *@out.
 * Return 0 (and move *@s past them), or -EINVAL: no digit, overflow, a
 * suffix not allowed. */
static int parse_amount(const char **s, const char *allowed, uint64_t *out)
{
	const char *p = *s;
	uint64_t v = 0, mult = 1;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *p - '0', &v))
			return -EINVAL;
	}
	if (*p && *p != ':') {
		if (!strchr(allowed, *p))
			return -EINVAL;
		mult = *p == 'k' ? 1000u : *p == 'M' ? 1000000u : 1000000000u;
		p++;
	}
	if (__builtin_mul_overflow(v, mult, &v))
		return -EINVAL;
	*s = p;
	*out = v;
	return 0;
}

/**
 * net_dev_rate_parse() - "BYTES[k|M|G][:PACKETS[k|M]]" per second (k = 1000):
 * "10M", "100M:20k", ":5000". Digits only (no sign, space or fraction);
 * bursts are left 0 (one second's worth).
 * Return: 0 and *@out, or -EINVAL (*@out zeroed).
 */
VQNET_EXPORT int net_dev_rate_parse(const char *s, struct net_dev_rate *out)
{
	const char *p = s;

	memset(out, 0, sizeof(*out));
	if (!p || !*p)
		return -EINVAL;
	if (*p != ':' && parse_amount(&p, "kMG", &out->bytes_per_sec) < 0)
		goto err;
	if (*p == ':') {
		p++;
		if (parse_amount(&p, "kM", &out->pkts_per_sec) < 0)
			goto err;
	}
	if (*p)
		goto err;
	return 0;
err:
	memset(out, 0, sizeof(*out));
	return -EINVAL;
}
