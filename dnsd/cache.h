/*
 * The forwarder's answer cache: bounded (entries and bytes per entry),
 * least-recently-used eviction, TTL-respecting (records are served with
 * their TTL reduced by the time spent here), negative answers cached for
 * min(SOA TTL, SOA MINIMUM) as RFC 2308 section 5 says, and never without
 * an SOA.  SERVFAIL and truncated answers are not cached.
 */
#ifndef PM_DNSD_CACHE_H
#define PM_DNSD_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

#define CACHE_ENTRIES_MAX	16384
#define CACHE_BUCKETS		32768	/* power of two */
#define CACHE_MSG_MAX		4096	/* larger answers are not kept */
#define CACHE_TTL_MAX		86400	/* seconds */
#define CACHE_TTLS_MAX		64	/* records whose TTL is rewritten */

struct cache_entry {
	struct cache_entry *hnext;
	struct cache_entry *lprev, *lnext;	/* LRU, most recent first */
	uint32_t	hash;
	struct dns_name	qname;		/* lower case */
	uint16_t	qtype, qclass;
	bool		do_bit;
	uint64_t	stored_ms, expires_ms;
	uint16_t	len;
	int32_t		opt_off;	/* OPT record offset, -1: none */
	uint8_t		nttl;
	uint16_t	ttl_off[CACHE_TTLS_MAX];
	uint32_t	ttl[CACHE_TTLS_MAX];
	uint8_t		msg[];
};

struct cache {
	struct cache_entry *buckets[CACHE_BUCKETS];
	struct cache_entry *lru_head, *lru_tail;
	size_t		 n;
	uint64_t	 hits, misses, inserts, evictions;
};

void	cache_init(struct cache *);
void	cache_clear(struct cache *);
/* Stores a validated response (r parsed from msg).  No-op when it must not
 * be cached. */
void	cache_put(struct cache *, const struct dns_query *q, const uint8_t *msg,
	    size_t len, const struct dns_resp *r, uint64_t now_ms);
/* Copies a fresh answer for q into out (ID set to q's, TTLs aged, OPT kept
 * only for an EDNS client); returns its length or 0 on a miss or when it
 * does not fit `cap`. */
size_t	cache_get(struct cache *, const struct dns_query *q, uint8_t *out,
	    size_t cap, uint64_t now_ms);

/* Shared with the forwarder: strip the OPT at `opt_off` if it is the last
 * record (and fix ARCOUNT); returns the new length. */
size_t	dns_strip_last_opt(uint8_t *msg, size_t len, int32_t opt_off);

#endif
