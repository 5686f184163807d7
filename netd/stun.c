/* STUN Binding Request build and Binding Success Response parse. */
#include <string.h>

#include <sodium.h>
#include <zlib.h>

#include "stun.h"

#define STUN_BINDING_REQUEST	0x0001
#define STUN_BINDING_SUCCESS	0x0101
#define ATTR_MAPPED_ADDRESS	0x0001
#define ATTR_XOR_MAPPED_ADDRESS	0x0020
/* Outside the RFC; some servers put XOR-MAPPED in the optional range. */
#define ATTR_XOR_MAPPED_ALT	0x8020
#define ATTR_SOFTWARE		0x8022
#define ATTR_FINGERPRINT	0x8028
#define FINGERPRINT_XOR		0x5354554eu
#define FAMILY_IPV4		0x01
#define FAMILY_IPV6		0x02

static const uint8_t magic_cookie[4] = { 0x21, 0x12, 0xa4, 0x42 };

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint8_t *
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

bool
stun_is(const uint8_t *b, size_t len)
{
	return len >= STUN_HEADER_LEN && (b[0] & 0xc0) == 0 &&
	    memcmp(b + 4, magic_cookie, sizeof(magic_cookie)) == 0;
}

bool
stun_is_binding(const uint8_t *b, size_t len)
{
	return stun_is(b, len) && b[1] == 0x01;
}

void
stun_new_txid(uint8_t txid[STUN_TXID_LEN])
{
	randombytes_buf(txid, STUN_TXID_LEN);
}

void
stun_build_request(uint8_t out[STUN_REQUEST_LEN],
    const uint8_t txid[STUN_TXID_LEN])
{
	uint8_t *p = out;
	uint32_t fp;

	p = put16(p, STUN_BINDING_REQUEST);
	/* The final length goes in before the CRC covers the header. */
	p = put16(p, STUN_REQUEST_LEN - STUN_HEADER_LEN);
	memcpy(p, magic_cookie, 4);
	memcpy(p + 4, txid, STUN_TXID_LEN);
	p += 4 + STUN_TXID_LEN;
	p = put16(p, ATTR_SOFTWARE);
	p = put16(p, sizeof(STUN_SOFTWARE) - 1);
	memcpy(p, STUN_SOFTWARE, sizeof(STUN_SOFTWARE) - 1);
	p += sizeof(STUN_SOFTWARE) - 1;
	fp = (uint32_t)crc32(0, out, (uInt)(p - out)) ^ FINGERPRINT_XOR;
	p = put16(p, ATTR_FINGERPRINT);
	p = put16(p, 4);
	p = put16(p, (uint16_t)(fp >> 16));
	put16(p, (uint16_t)fp);
}

static int
family_len(uint8_t family)
{
	if (family == FAMILY_IPV4)
		return 4;
	if (family == FAMILY_IPV6)
		return 16;
	return 0;
}

/*
 * (XOR-)MAPPED-ADDRESS value: 0, family, port, address.  The XOR form
 * masks the port with the cookie's top half and the address with the
 * cookie followed by the transaction ID.
 */
static int
parse_address(const uint8_t *v, size_t len, const uint8_t *hdr, bool xored,
    struct ipport *out)
{
	uint8_t ip[16];
	uint16_t port;
	int alen, i;

	if (len < 4 || (alen = family_len(v[1])) == 0 ||
	    len - 4 < (size_t)alen)
		return -1;
	port = get16(v + 2);
	for (i = 0; i < alen; i++)
		ip[i] = xored ? v[4 + i] ^ hdr[4 + i] : v[4 + i];
	if (xored)
		port ^= get16(magic_cookie);
	if (alen == 4)
		ipport_set_v4(out, ip, port);
	else
		ipport_set_v6(out, ip, port);
	return 0;
}

enum stun_err
stun_parse_response(const uint8_t *b, size_t len, const uint8_t *want_txid,
    uint8_t *txid, struct ipport *addr)
{
	struct ipport xor_addr, plain_addr;
	bool have_xor = false, have_plain = false;
	const uint8_t *a;
	size_t left;

	if (!stun_is(b, len))
		return STUN_ERR_NOT_STUN;
	if (get16(b) != STUN_BINDING_SUCCESS)
		return STUN_ERR_NOT_SUCCESS;
	if (want_txid != NULL && memcmp(b + 8, want_txid, STUN_TXID_LEN) != 0)
		return STUN_ERR_TXID;
	left = get16(b + 2);
	if (left > len - STUN_HEADER_LEN)
		return STUN_ERR_MALFORMED;
	/* Bytes past the header's length are ignored, as Tailscale does. */
	for (a = b + STUN_HEADER_LEN; left > 0;) {
		uint16_t type, alen;
		size_t padded;

		if (left < 4)
			return STUN_ERR_MALFORMED;
		type = get16(a);
		alen = get16(a + 2);
		padded = ((size_t)alen + 3) & ~(size_t)3;
		if (padded > left - 4)
			return STUN_ERR_MALFORMED;
		if (type == ATTR_XOR_MAPPED_ADDRESS ||
		    type == ATTR_XOR_MAPPED_ALT) {
			if (parse_address(a + 4, alen, b, true, &xor_addr) < 0)
				return STUN_ERR_MALFORMED;
			have_xor = true;
		} else if (type == ATTR_MAPPED_ADDRESS) {
			if (parse_address(a + 4, alen, b, false,
			    &plain_addr) < 0)
				return STUN_ERR_MALFORMED;
			have_plain = true;
		}
		a += 4 + padded;
		left -= 4 + padded;
	}
	if (!have_xor && !have_plain)
		return STUN_ERR_MALFORMED;
	if (txid != NULL)
		memcpy(txid, b + 8, STUN_TXID_LEN);
	*addr = have_xor ? xor_addr : plain_addr;
	return STUN_OK;
}

const char *
stun_strerror(enum stun_err e)
{
	switch (e) {
	case STUN_OK:
		return "ok";
	case STUN_ERR_NOT_STUN:
		return "not a STUN packet";
	case STUN_ERR_NOT_SUCCESS:
		return "not a binding success response";
	case STUN_ERR_MALFORMED:
		return "malformed attributes or no mapped address";
	case STUN_ERR_TXID:
		return "unknown transaction ID";
	}
	return "unknown STUN error";
}
