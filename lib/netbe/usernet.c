/* SPDX-License-Identifier: MIT */
/*
 * The user network's addresses (user and slirp): QEMU's 10.0.2.0/24 and
 * fec0::/64 unless --net / --net6 name other ones. In any of them the
 * gateway is host 2 (the host's loopback seen from the guest), the DNS
 * server host 3, and the guest's DHCP lease host 15, as in QEMU.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

#include "netbe/netbe_internal.h"

/* "ADDR/LEN" into @addr (@af's size) and @len; -1 unless well-formed. */
static int parse_prefix(int af, const char *s, void *addr, unsigned *len)
{
	char buf[64], *slash, *end;
	unsigned long l;

	if (snprintf(buf, sizeof(buf), "%s", s) >= (int)sizeof(buf))
		return -1;
	slash = strchr(buf, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	if (inet_pton(af, buf, addr) != 1 || slash[1] < '0' || slash[1] > '9')
		return -1;
	errno = 0;
	l = strtoul(slash + 1, &end, 10);
	if (errno || *end || l > 128)
		return -1;
	*len = (unsigned)l;
	return 0;
}

static int net4_parse(const char *s, struct netbe_usernet *u, char *err, size_t errlen)
{
	unsigned len;
	uint32_t net, mask;

	if (parse_prefix(AF_INET, s, &u->net4, &len) < 0)
		return netbe_set_err(err, errlen, -EINVAL, "--net '%s': not ADDR/LEN", s);
	/* Host 15 must be a host of the subnet: /27 at the smallest. */
	if (len < 8 || len > 27)
		return netbe_set_err(err, errlen, -EINVAL,
				     "--net '%s': the prefix length must be 8..27", s);
	mask = len ? ~0u << (32 - len) : 0;
	net = ntohl(u->net4.s_addr);
	if (net & ~mask)
		return netbe_set_err(err, errlen, -EINVAL,
				     "--net '%s': host bits set (the network is %u.%u.%u.%u/%u)", s,
				     (net & mask) >> 24, (net & mask) >> 16 & 0xff,
				     (net & mask) >> 8 & 0xff, (net & mask) & 0xff, len);
	u->mask4.s_addr = htonl(mask);
	return 0;
}

static int net6_parse(const char *s, struct netbe_usernet *u, char *err, size_t errlen)
{
	unsigned len;

	if (parse_prefix(AF_INET6, s, &u->prefix6, &len) < 0)
		return netbe_set_err(err, errlen, -EINVAL, "--net6 '%s': not PREFIX/64", s);
	/* SLAAC makes addresses in a /64 only (RFC 4862 §5.5.3, RFC 4291). */
	if (len != 64)
		return netbe_set_err(err, errlen, -EINVAL,
				     "--net6 '%s': the prefix length must be 64 (SLAAC)", s);
	for (unsigned i = 8; i < 16; i++)
		if (u->prefix6.s6_addr[i])
			return netbe_set_err(err, errlen, -EINVAL,
					     "--net6 '%s': bits set past the /64", s);
	return 0;
}

static struct in_addr host4(const struct netbe_usernet *u, uint32_t host)
{
	return (struct in_addr){htonl(ntohl(u->net4.s_addr) | host)};
}

static struct in6_addr host6(const struct netbe_usernet *u, uint8_t host)
{
	struct in6_addr a = u->prefix6;

	a.s6_addr[15] = host;
	return a;
}

int netbe_usernet_get(const struct netbe_options *opt, struct netbe_usernet *u, char *err,
		      size_t errlen)
{
	int rc;

	memset(u, 0, sizeof(*u));
	rc = net4_parse(opt->net4 ? opt->net4 : "10.0.2.0/24", u, err, errlen);
	if (rc == 0)
		rc = net6_parse(opt->net6 ? opt->net6 : "fec0::/64", u, err, errlen);
	if (rc < 0)
		return rc;
	u->gw4 = host4(u, 2);
	u->dns4 = host4(u, 3);
	u->guest4 = host4(u, 15);
	u->gw6 = host6(u, 2);
	u->dns6 = host6(u, 3);
	u->guest6 = host6(u, 0x15);
	return 0;
}
