/*
 * STUN (RFC 5389) as Tailscale uses it: a Binding Request with the SOFTWARE
 * attribute "tailnode" and a FINGERPRINT, and the parse of a Binding Success
 * Response into the mapped address (tailscale net/stun/stun.go):
 *
 *	0  type 0x0001   2  length 20   4  cookie 21 12 a4 42   8  txid (12)
 *	20 SOFTWARE 80 22 00 08 "tailnode"
 *	32 FINGERPRINT 80 28 00 04 CRC-32(bytes 0..31) ^ 0x5354554e
 *
 * The address comes from XOR-MAPPED-ADDRESS (0x0020, or the 0x8020 some
 * servers send), else from MAPPED-ADDRESS (0x0001).
 */
#ifndef PM_NETD_STUN_H
#define PM_NETD_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipport.h"

#define STUN_HEADER_LEN		20
#define STUN_TXID_LEN		12
#define STUN_REQUEST_LEN	40
#define STUN_DEFAULT_PORT	3478
#define STUN_SOFTWARE		"tailnode"

enum stun_err {
	STUN_OK = 0,
	STUN_ERR_NOT_STUN,	/* no cookie, short, or top bits set */
	STUN_ERR_NOT_SUCCESS,	/* not a Binding Success Response */
	STUN_ERR_MALFORMED,	/* attribute bounds, family, or no address */
	STUN_ERR_TXID,		/* not the transaction we asked */
};

/* What stun.Is accepts: a STUN header, any method. */
bool	stun_is(const uint8_t *, size_t);
/* What magicsock hands to netcheck: a STUN Binding (request or response). */
bool	stun_is_binding(const uint8_t *, size_t);
/* A fresh transaction ID from the CSPRNG (libsodium). */
void	stun_new_txid(uint8_t txid[STUN_TXID_LEN]);
/* The 40-byte request for txid. */
void	stun_build_request(uint8_t out[STUN_REQUEST_LEN],
	    const uint8_t txid[STUN_TXID_LEN]);
/*
 * Parses a Binding Success Response.  want_txid, when not NULL, must match;
 * txid (may be NULL) receives the response's.  On error *addr is untouched.
 */
enum stun_err stun_parse_response(const uint8_t *, size_t,
	    const uint8_t *want_txid, uint8_t *txid, struct ipport *addr);
const char *stun_strerror(enum stun_err);

#endif
