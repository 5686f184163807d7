/* STUN responses from the network, and the demux over the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "demux.h"
#include "stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipport a, b;
	uint8_t txid[STUN_TXID_LEN];
	enum stun_err e;
	enum pkt_kind k;

	/* The demux's order: STUN binding first, then disco, then WG. */
	k = demux_classify(data, size);
	if ((k == PKT_STUN) != stun_is_binding(data, size) ||
	    demux_kind_name(k) == NULL)
		__builtin_trap();
	e = stun_parse_response(data, size, NULL, txid, &a);
	if (e == STUN_OK) {
		/* Only a Binding success with its own txid parses. */
		if (!stun_is_binding(data, size) ||
		    demux_classify(data, size) != PKT_STUN ||
		    memcmp(txid, data + 8, STUN_TXID_LEN) != 0)
			__builtin_trap();
		if (stun_parse_response(data, size, data + 8, NULL, &b) !=
		    STUN_OK || memcmp(&a, &b, sizeof(a)) != 0)
			__builtin_trap();
	}
	if (stun_strerror(e) == NULL)
		__builtin_trap();
	return 0;
}
