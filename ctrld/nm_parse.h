/*
 * Internal to ctrld/netmap*.c: reading one tailcfg.Node or
 * tailcfg.PeerChange from JSON into the model, with every field checked.
 */
#ifndef PM_CTRLD_NM_PARSE_H
#define PM_CTRLD_NM_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "netmap.h"

struct patch {
	int64_t		 id;
	int		 derp;		/* 0: unchanged */
	char		**endpoints;	/* NULL: unchanged */
	size_t		 nendpoints;
	bool		 has_endpoints, has_key, has_disco;
	uint8_t		 key[32], disco[32];
	int		 online;	/* -1: unchanged */
	int64_t		 last_seen, key_expiry;	/* 0: unchanged */
};

/* Formats `fmt` (one %s) into err; returns -1. */
int	nm_fail(char *err, size_t errlen, const char *fmt, const char *what);
void	nm_strv_free(char **v, size_t n);
void	nm_node_free(struct nm_node *);
void	nm_nodes_free(struct nm_node *, size_t n);
/* A JSON array of Nodes; sorted by ID (duplicates refused) if `sort`. */
int	nm_nodes_parse(json_t *arr, struct nm_node **out, size_t *nout,
	    bool sort, const char *field, char *err, size_t errlen);
int	nm_node_parse(json_t *o, struct nm_node *, char *err, size_t errlen);
int	nm_patch_parse(json_t *o, struct patch *, char *err, size_t errlen);
/* {"<decimal NodeID>": bool}, or absent/null. */
int	nm_idbool_check(json_t *o, const char *field, char *err, size_t errlen);

#endif
