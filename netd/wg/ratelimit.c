/*
 * Token bucket per source, counted in nanoseconds of credit: a packet
 * costs 1 s / 20, a bucket holds five packets' worth, and credit accrues
 * one nanosecond per nanosecond.  A new source starts with a full bucket
 * and pays for its first packet, as in the kernel.
 *
 * Linear probing with backward-shift deletion (no tombstones), at most
 * half full, so probes stay short and a lookup always meets an empty slot.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "ratelimit.h"

#define PACKET_COST_NS	(1000000000ull / WG_RATELIMIT_PER_SEC)
#define TOKEN_MAX_NS	(PACKET_COST_NS * WG_RATELIMIT_BURST)
#define MAX_ENTRIES_CAP	(1u << 20)

struct wg_ratelimit_slot {
	uint64_t	last_ns;
	uint64_t	addr;		/* IPv4 address or IPv6 /64, raw bytes */
	uint32_t	tokens;		/* ns of credit, <= TOKEN_MAX_NS */
	uint8_t		tag;		/* 4, 6, or 0 for an empty slot */
};

_Static_assert(sizeof(((struct wg_ratelimiter *)0)->key) ==
    crypto_shorthash_KEYBYTES, "SipHash key size");
_Static_assert(TOKEN_MAX_NS <= UINT32_MAX, "tokens fit in 32 bits");

static size_t
home(const struct wg_ratelimiter *rl, uint8_t tag, uint64_t addr)
{
	unsigned char in[1 + sizeof(addr)], h[crypto_shorthash_BYTES];
	uint64_t v;

	in[0] = tag;
	memcpy(in + 1, &addr, sizeof(addr));
	crypto_shorthash(h, in, sizeof(in), rl->key);
	memcpy(&v, h, sizeof(v));
	return (size_t)v & rl->mask;
}

/* The bucket key: the whole IPv4 address, or the IPv6 /64.  0 if the
 * family is unknown. */
static uint8_t
source_of(int family, const void *addr, uint64_t *out)
{
	*out = 0;
	if (family == AF_INET) {
		memcpy(out, addr, 4);
		return 4;
	}
	if (family == AF_INET6) {
		memcpy(out, addr, 8);
		return 6;
	}
	return 0;
}

static bool
charge(struct wg_ratelimit_slot *s, uint64_t now_ns)
{
	uint64_t tokens = s->tokens;

	/* A clock that steps back earns no credit and keeps the old time. */
	if (now_ns > s->last_ns) {
		uint64_t elapsed = now_ns - s->last_ns;

		tokens = elapsed >= TOKEN_MAX_NS ? TOKEN_MAX_NS :
		    tokens + elapsed;
		if (tokens > TOKEN_MAX_NS)
			tokens = TOKEN_MAX_NS;
		s->last_ns = now_ns;
	}
	if (tokens < PACKET_COST_NS) {
		s->tokens = (uint32_t)tokens;
		return false;
	}
	s->tokens = (uint32_t)(tokens - PACKET_COST_NS);
	return true;
}

bool
wg_ratelimiter_allow(struct wg_ratelimiter *rl, int family, const void *addr,
    uint64_t now_ns)
{
	struct wg_ratelimit_slot *s;
	uint64_t a;
	uint8_t tag;
	size_t i;

	if ((tag = source_of(family, addr, &a)) == 0)
		return false;
	for (i = home(rl, tag, a);; i = (i + 1) & rl->mask) {
		s = &rl->slots[i];
		if (s->tag == 0)
			break;
		if (s->tag == tag && s->addr == a)
			return charge(s, now_ns);
	}
	if (rl->count >= rl->max)
		return false;
	s->tag = tag;
	s->addr = a;
	s->last_ns = now_ns;
	s->tokens = (uint32_t)(TOKEN_MAX_NS - PACKET_COST_NS);
	rl->count++;
	return true;
}

/*
 * Empties slot `hole` and pulls later members of its cluster back over it,
 * each only as far as its own home slot allows, so every entry stays
 * reachable from its home without tombstones.
 */
static void
delete_at(struct wg_ratelimiter *rl, size_t hole)
{
	struct wg_ratelimit_slot *s;
	size_t j = hole, h;

	for (;;) {
		j = (j + 1) & rl->mask;
		s = &rl->slots[j];
		if (s->tag == 0)
			break;
		h = home(rl, s->tag, s->addr);
		/* Movable iff hole lies on the probe path h..j. */
		if (((j - h) & rl->mask) >= ((j - hole) & rl->mask)) {
			rl->slots[hole] = *s;
			hole = j;
		}
	}
	memset(&rl->slots[hole], 0, sizeof(rl->slots[hole]));
	rl->count--;
}

size_t
wg_ratelimiter_gc(struct wg_ratelimiter *rl, uint64_t now_ns)
{
	size_t removed = 0, i = 0;

	while (i <= rl->mask) {
		const struct wg_ratelimit_slot *s = &rl->slots[i];

		/* delete_at() may move an unseen entry into slot i: look again. */
		if (s->tag != 0 && now_ns > s->last_ns &&
		    now_ns - s->last_ns > WG_RATELIMIT_IDLE_NS) {
			delete_at(rl, i);
			removed++;
			continue;
		}
		i++;
	}
	return removed;
}

int
wg_ratelimiter_init(struct wg_ratelimiter *rl, size_t max_entries)
{
	size_t n = 1;

	memset(rl, 0, sizeof(*rl));
	if (max_entries == 0 || max_entries > MAX_ENTRIES_CAP)
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	while (n < 2 * max_entries)
		n <<= 1;
	if ((rl->slots = calloc(n, sizeof(*rl->slots))) == NULL)
		return -ENOMEM;
	rl->mask = n - 1;
	rl->max = max_entries;
	randombytes_buf(rl->key, sizeof(rl->key));
	return 0;
}

void
wg_ratelimiter_free(struct wg_ratelimiter *rl)
{
	free(rl->slots);
	sodium_memzero(rl, sizeof(*rl));
}
