/* SPDX-License-Identifier: Apache-2.0 */
/* `sextant serve`: builds the storage, the HTTP layer and the API families
 * from a configuration and runs until SIGTERM or SIGINT. */
#ifndef SX_SERVER_SERVER_H
#define SX_SERVER_SERVER_H

#include "../core/config.h"

/* Run the server; returns the process exit code (0 after a clean
 * shutdown, 1 if it could not start). */
int sx_server_run(const sx_config_t *cfg);

#endif
