/*
 * Every IPC receiver's decoder: byte 0 picks the directed channel, byte 1
 * the phase, the fd flag and the once-only mask; the rest is the datagram.
 */
#include <stddef.h>
#include <stdint.h>

#include "ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct ipc_policy *pol;
	struct ipc_msg m;
	enum ipc_drop why;
	Pm__Proc from, to;

	if (size < 2)
		return 0;
	from = (Pm__Proc)(1 + (data[0] & 3));
	to = (Pm__Proc)(1 + ((data[0] >> 2) & 3));
	if ((pol = ipc_policy(from, to)) == NULL)
		return 0;
	if (ipc_decode(pol, data + 2, size - 2, data[1] & 1,
	    (data[1] & 2) ? IPC_PHASE_RUN : IPC_PHASE_START, data[1] >> 2, &m,
	    &why) == 0) {
		/* Accepted messages must be well-formed all the way down. */
		if (m.payload == NULL || ipc_has_unknown_fields(m.env))
			__builtin_trap();
		ipc_msg_free(&m);
	}
	return 0;
}
