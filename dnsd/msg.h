/*
 * DNS messages (RFC 1035 section 4, RFC 3596, RFC 6891): a strict parser
 * for the bytes clients and upstreams send, and a builder with name
 * compression for the answers dnsd writes.  No I/O, no logging, no
 * allocation: the parser fills caller structs and the builder writes into a
 * caller buffer.  Names are kept in uncompressed wire form (length-prefixed
 * labels, ending in the root's zero byte); comparisons ignore ASCII case
 * (RFC 4343).
 */
#ifndef PM_DNSD_MSG_H
#define PM_DNSD_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Specification constants. */
#define DNS_HDR_LEN		12
#define DNS_NAME_MAX		255	/* wire form, RFC 1035 3.1 */
#define DNS_LABEL_MAX		63
#define DNS_UDP_MIN		512	/* RFC 1035 4.2.1; EDNS floor, RFC 6891 6.2.5 */
#define DNS_TCP_MAX		65535

#define DNS_CLASS_IN		1
#define DNS_CLASS_ANY		255

#define DNS_T_A			1
#define DNS_T_NS		2
#define DNS_T_CNAME		5
#define DNS_T_SOA		6
#define DNS_T_PTR		12
#define DNS_T_MX		15
#define DNS_T_TXT		16
#define DNS_T_AAAA		28
#define DNS_T_OPT		41
#define DNS_T_AXFR		252
#define DNS_T_ANY		255

#define DNS_RCODE_NOERROR	0
#define DNS_RCODE_FORMERR	1
#define DNS_RCODE_SERVFAIL	2
#define DNS_RCODE_NXDOMAIN	3
#define DNS_RCODE_NOTIMP	4
#define DNS_RCODE_REFUSED	5
#define DNS_RCODE_BADVERS	16	/* extended, RFC 6891 9 */

/* Header flag bits (second 16-bit word). */
#define DNS_F_QR		0x8000
#define DNS_F_OPCODE		0x7800
#define DNS_F_AA		0x0400
#define DNS_F_TC		0x0200
#define DNS_F_RD		0x0100
#define DNS_F_RA		0x0080
#define DNS_F_Z			0x0040
#define DNS_F_AD		0x0020
#define DNS_F_CD		0x0010
#define DNS_F_RCODE		0x000f

#define DNS_EDNS_DO		0x8000	/* in the OPT TTL's low 16 bits */

/* Implementation constants. */
#define DNS_PTR_HOPS_MAX	32	/* compression pointers followed per name */
#define DNS_RR_MAX		512	/* records walked per message */
#define DNS_COMP_MAX		64	/* names remembered for compression */
#define DNS_EDNS_SIZE		1232	/* what dnsd advertises (DNS flag day 2020) */

struct dns_name {
	uint8_t		len;		/* bytes in wire, including the root 0 */
	uint8_t		nlabels;	/* not counting the root */
	uint8_t		wire[DNS_NAME_MAX];
};

/* A query as dnsd accepts it: one question, no answer or authority
 * records, at most one OPT in the additional section. */
struct dns_query {
	uint16_t	id;
	uint16_t	flags;
	struct dns_name	qname;
	uint16_t	qtype, qclass;
	bool		edns;		/* an OPT was present */
	uint8_t		edns_version;
	uint16_t	udp_size;	/* the client's, floored at 512 */
	bool		do_bit;
};

/* Results of dns_parse_query(): 0, or -rcode to answer with. */
#define DNS_PARSE_DROP		(-1000)	/* not even a header: say nothing */

int	dns_parse_query(const uint8_t *msg, size_t len, struct dns_query *q);

/* Reads a possibly compressed name at *off (advanced past it) in
 * msg[0..len).  Pointers must point strictly backwards and at most
 * DNS_PTR_HOPS_MAX are followed.  0 or -EBADMSG. */
int	dns_name_read(const uint8_t *msg, size_t len, size_t *off,
	    struct dns_name *out);
/* Text ("a.b.c" or "a.b.c.", "." for the root) to wire form; rejects empty
 * labels, labels over 63 bytes and names over 255.  0 or -EINVAL. */
int	dns_name_from_text(const char *s, struct dns_name *out);
/* Wire form to text with a trailing dot; out must hold 1024 bytes (every
 * byte may need "\\ddd").  Returns out. */
char   *dns_name_to_text(const struct dns_name *, char *out, size_t outlen);
bool	dns_name_eq(const struct dns_name *, const struct dns_name *);
/* True if `name` equals `zone` or lies below it. */
bool	dns_name_under(const struct dns_name *name, const struct dns_name *zone);
void	dns_name_lower(struct dns_name *);
/* The name without its first `n` labels (n <= nlabels). */
void	dns_name_parent(const struct dns_name *, unsigned n, struct dns_name *out);
/* `a` followed by `b` (a's root dropped).  0 or -EINVAL if too long. */
int	dns_name_concat(const struct dns_name *a, const struct dns_name *b,
	    struct dns_name *out);
uint32_t dns_name_hash(const struct dns_name *);

/* Every resource record of a response, for validation, TTL rewriting and
 * the cache.  Offsets index the message. */
struct dns_rr_info {
	uint16_t	type, class;
	uint32_t	ttl;
	size_t		ttl_off;	/* where the 32-bit TTL sits */
	size_t		rdata_off;
	uint16_t	rdlen;
	uint8_t		section;	/* 1 answer, 2 authority, 3 additional */
	size_t		rr_off;		/* first byte of the owner name */
	size_t		end;		/* one past the record */
};

struct dns_resp {
	uint16_t	id, flags;
	uint16_t	qdcount, ancount, nscount, arcount;
	struct dns_name	qname;
	uint16_t	qtype, qclass;
	size_t		nrr;
	struct dns_rr_info rr[DNS_RR_MAX];
	int		opt;		/* index in rr[] of the OPT, or -1 */
	uint32_t	min_ttl;	/* over answer+authority, OPT excluded */
	int		soa;		/* index of the first SOA in authority, -1 */
};

/* Parses a whole response strictly: exactly one question, every record in
 * bounds, names valid, no trailing bytes, at most one OPT (root owner).
 * 0 or -EBADMSG. */
int	dns_parse_response(const uint8_t *msg, size_t len, struct dns_resp *r);

/* True if the question name sits uncompressed at offset 12 with nm's
 * length, so it can be overwritten in place with the client's spelling. */
bool	dns_question_plain(const uint8_t *msg, size_t len,
	    const struct dns_name *nm);

/* Builder.  Writes never overrun `cap`; a record that does not fit sets
 * `full` and is left out whole (the caller then sets TC). */
struct dns_builder {
	uint8_t		*buf;
	size_t		 cap;
	size_t		 len;
	uint16_t	 count[4];	/* question, answer, authority, additional */
	bool		 full;
	unsigned	 ncomp;
	uint16_t	 comp[DNS_COMP_MAX];	/* offsets of names written */
};

enum dns_section { DNS_S_QD, DNS_S_AN, DNS_S_NS, DNS_S_AR };

void	dns_b_init(struct dns_builder *, uint8_t *buf, size_t cap,
	    uint16_t id, uint16_t flags);
int	dns_b_question(struct dns_builder *, const struct dns_name *,
	    uint16_t type, uint16_t class);
/* One record; rdata is copied as is (no names inside). */
int	dns_b_rr(struct dns_builder *, enum dns_section,
	    const struct dns_name *, uint16_t type, uint32_t ttl,
	    const void *rdata, uint16_t rdlen);
/* PTR/CNAME/NS: the target name is compressed too. */
int	dns_b_rr_name(struct dns_builder *, enum dns_section,
	    const struct dns_name *, uint16_t type, uint32_t ttl,
	    const struct dns_name *target);
int	dns_b_rr_soa(struct dns_builder *, enum dns_section,
	    const struct dns_name *zone,
	    uint32_t ttl, uint32_t minimum);
/* OPT pseudo-record (RFC 6891 6.1.2) with our UDP size. */
int	dns_b_opt(struct dns_builder *, uint16_t udp_size, uint8_t ext_rcode,
	    bool do_bit);
/* Writes the counts and the rcode; returns the message length. */
size_t	dns_b_finish(struct dns_builder *, unsigned rcode);

/* The header flags of an answer to q: QR, opcode and RD and CD copied. */
uint16_t dns_reply_flags(const struct dns_query *q);

static inline uint16_t
dns_get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t
dns_get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	    ((uint32_t)p[2] << 8) | p[3];
}

static inline void
dns_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
dns_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

#endif
