/*
 * privmesh's own nftables table ("table inet privmesh"), through
 * libnftables.  privd writes every command itself from its own validated
 * values (the interface name it created, constants): nothing a child sent
 * is ever spliced into the text.  Replacing the table is one transaction,
 * so there is no moment with half a ruleset.
 */
#ifndef PM_PRIVD_NFT_H
#define PM_PRIVD_NFT_H

#include "netstate.h"

/* Before the sandbox: the library context (and its netlink socket). */
int	pmnft_init(void);
void	pmnft_free(void);
/* Installs (replacing) the table for `spec`, or removes it if !spec->on;
 * removing an absent table is not an error.  On failure, the library's
 * message is in pmnft_error(). */
int	pmnft_apply(const struct ns_nft *spec);
const char *pmnft_error(void);
/* The command text pmnft_apply() runs, for tests and docs. */
int	pmnft_render(const struct ns_nft *spec, char *buf, size_t len);

#endif
