/* SPDX-License-Identifier: Apache-2.0 */
/* Small file-system helpers shared by everything that reads or writes
 * files: whole-file reads, full writes, directory fsync and mkdir -p. */
#ifndef SX_CORE_FILE_H
#define SX_CORE_FILE_H

#include <stddef.h>

#include "buf.h"

/* Append the whole file at path to out (may reallocate out). Returns 0 or
 * -errno; on error out keeps what it had. */
int sx_file_read_all(const char *path, sx_buf_t *out);
/* Write all of buf to fd, retrying short writes and EINTR. Returns 0 or
 * -errno. */
int sx_write_full(int fd, const void *buf, size_t n);
/* fsync a directory so that renames and creations in it are durable. */
int sx_fsync_dir(const char *dir);
/* Create dir and its missing parents. Returns 0 or -errno. */
int sx_mkdir_p(const char *dir);

#endif
