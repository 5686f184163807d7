/*
 * Validation of one received datagram against its channel's policy.  Pure
 * and allocation-bounded, so the fuzzers exercise exactly this path.
 */
#include <errno.h>
#include <string.h>

#include "ipc.h"

#define MAX_DEPTH	8	/* our messages nest at most 3 deep */

static const char *drop_names[IPC_DROP_MAX] = {
	[IPC_DROP_UNPACK] = "failed to unpack",
	[IPC_DROP_OVERSIZED] = "oversized",
	[IPC_DROP_UNKNOWN_FIELDS] = "unknown fields",
	[IPC_DROP_NOT_ALLOWED] = "kind not allowed",
	[IPC_DROP_PHASE] = "kind not allowed now",
	[IPC_DROP_FD] = "descriptor mismatch",
	[IPC_DROP_INVALID] = "failed checks",
};

const char *
ipc_drop_name(enum ipc_drop why)
{
	if ((unsigned)why >= IPC_DROP_MAX)
		return "?";
	return drop_names[why];
}

static const void *
member(const ProtobufCMessage *m, unsigned offset)
{
	return (const char *)m + offset;
}

static const ProtobufCFieldDescriptor *
oneof_field(const ProtobufCMessageDescriptor *d)
{
	for (unsigned i = 0; i < d->n_fields; i++)
		if (d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
			return &d->fields[i];
	return NULL;
}

uint32_t
ipc_envelope_kind(const ProtobufCMessage *env)
{
	const ProtobufCFieldDescriptor *f = oneof_field(env->descriptor);

	if (f == NULL)
		return 0;
	return *(const uint32_t *)member(env, f->quantifier_offset);
}

/* The payload of the set oneof member of an envelope. */
static const ProtobufCMessage *
envelope_payload(const ProtobufCMessage *env, uint32_t kind)
{
	const ProtobufCFieldDescriptor *f;

	f = protobuf_c_message_descriptor_get_field(env->descriptor, kind);
	if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE)
		return NULL;
	return *(ProtobufCMessage * const *)member(env, f->offset);
}

static bool
field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
		return true;
	return *(const uint32_t *)member(m, f->quantifier_offset) == f->id;
}

static bool
unknown_at(const ProtobufCMessage *m, int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	if (m->n_unknown_fields != 0 || depth > MAX_DEPTH)
		return true;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (f->type != PROTOBUF_C_TYPE_MESSAGE || !field_present(m, f))
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)member(m,
			    f->quantifier_offset);
			ProtobufCMessage * const *v =
			    *(ProtobufCMessage * const * const *)member(m,
			    f->offset);
			for (size_t j = 0; j < n; j++)
				if (unknown_at(v[j], depth + 1))
					return true;
		} else {
			const ProtobufCMessage *sub =
			    *(ProtobufCMessage * const *)member(m, f->offset);
			if (sub != NULL && unknown_at(sub, depth + 1))
				return true;
		}
	}
	return false;
}

bool
ipc_has_unknown_fields(const ProtobufCMessage *m)
{
	return unknown_at(m, 0);
}

static const struct ipc_kind *
find_kind(const struct ipc_policy *pol, uint32_t kind, size_t *idx)
{
	for (size_t i = 0; i < pol->nkinds; i++)
		if (pol->kinds[i].kind == kind) {
			*idx = i;
			return &pol->kinds[i];
		}
	return NULL;
}

/* Policy checks that need the kind but not the payload's contents. */
static int
check_kind(const struct ipc_policy *pol, uint32_t kind, bool has_fd,
    uint32_t phase, uint64_t once_done, const struct ipc_kind **kp,
    enum ipc_drop *why)
{
	const struct ipc_kind *k;
	size_t idx = 0;

	if (kind == 0 || (k = find_kind(pol, kind, &idx)) == NULL) {
		*why = IPC_DROP_NOT_ALLOWED;
		return -EBADMSG;
	}
	if ((k->phases != 0 && !(k->phases & phase)) ||
	    ((k->flags & IPC_F_ONCE) && (once_done & (1ULL << idx)))) {
		*why = IPC_DROP_PHASE;
		return -EBADMSG;
	}
	if (!!(k->flags & IPC_F_FD) != has_fd) {
		*why = IPC_DROP_FD;
		return -EBADMSG;
	}
	*kp = k;
	return 0;
}

int
ipc_decode(const struct ipc_policy *pol, const uint8_t *buf, size_t len,
    bool has_fd, uint32_t phase, uint64_t once_done, struct ipc_msg *out,
    enum ipc_drop *why)
{
	ProtobufCMessage *env;
	const struct ipc_kind *k = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	if (len > pol->max_size) {
		*why = IPC_DROP_OVERSIZED;
		return -EBADMSG;
	}
	env = protobuf_c_message_unpack(pol->desc, NULL, len, buf);
	if (env == NULL) {
		*why = IPC_DROP_UNPACK;
		return -EBADMSG;
	}
	if (ipc_has_unknown_fields(env)) {
		*why = IPC_DROP_UNKNOWN_FIELDS;
		r = -EBADMSG;
		goto fail;
	}
	out->kind = ipc_envelope_kind(env);
	if ((r = check_kind(pol, out->kind, has_fd, phase, once_done, &k,
	    why)) != 0)
		goto fail;
	out->payload = envelope_payload(env, out->kind);
	if (out->payload == NULL || (k->check != NULL &&
	    k->check(pol, out->payload) != 0)) {
		*why = IPC_DROP_INVALID;
		r = -EBADMSG;
		goto fail;
	}
	out->env = env;
	out->k = k;
	return 0;
fail:
	protobuf_c_message_free_unpacked(env, NULL);
	memset(out, 0, sizeof(*out));
	out->fd = -1;
	return r;
}

void
ipc_msg_free(struct ipc_msg *m)
{
	if (m->env != NULL)
		protobuf_c_message_free_unpacked(m->env, NULL);
	m->env = NULL;
	m->payload = NULL;
}
