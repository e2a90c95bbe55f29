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

/// Gives the allocator's free memory back to the system (glibc's malloc_trim(0), which also
/// releases free pages inside the heap). For after a burst of short-lived allocations, such as
/// listing a mailbox of 100,000 messages: glibc otherwise keeps the pages, and the process's
/// resident size stays at the burst's peak. Does nothing where the C library has no such call.
void tern_release_free_memory(void);

/// Tunes the allocator for a long-running server (glibc): blocks of 256 KB and more are mapped
/// on their own and unmapped when freed, instead of glibc's threshold that rises as large blocks
/// are freed until they come from the heap, where one long-lived small block keeps the pages
/// around it resident. Does nothing where the C library has no such setting.
void tern_tune_allocator_for_server(void);

/// Raises the soft limit on open files to the hard limit (capped at 1,048,576), as a server
/// that holds a socket per client and directories per open mailbox must: the usual soft limit
/// of 1,024 would refuse connections long before `[limits] connections`. Returns the soft limit
/// in force afterwards, or -1 when it cannot be read.
long long tern_raise_open_file_limit(void);

#endif
