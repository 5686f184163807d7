#ifndef PM_PRIVD_SYSCTL_H
#define PM_PRIVD_SYSCTL_H

#include <stdint.h>

#include "netstate.h"

const char *sysctl_path(enum ns_sysctl);
int	sysctl_get(enum ns_sysctl, uint32_t *);
int	sysctl_set(enum ns_sysctl, uint32_t);

#endif
