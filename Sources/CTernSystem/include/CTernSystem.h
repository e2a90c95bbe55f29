#ifndef C_TERN_SYSTEM_H
#define C_TERN_SYSTEM_H

#include <stddef.h>
#include <stdint.h>

/// syncfs(2): writes every dirty page and inode of the filesystem holding `fd` to stable
/// storage and returns when they are there (Linux; since 5.8 it also reports writeback
/// errors). Swift's Glibc module does not export it. Returns -1 with errno ENOSYS on systems
/// without it.
int tern_syncfs(int fd);

/// CRC-32C (Castagnoli, RFC 3720 appendix B.4) of `length` octets at `data`, continuing from
/// `crc` (0 to start). Uses the SSE 4.2 or ARMv8 CRC instructions where the CPU has them.
uint32_t tern_crc32c(uint32_t crc, const void *data, size_t length);

#endif
