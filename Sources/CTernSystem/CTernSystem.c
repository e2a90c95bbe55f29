#define _GNU_SOURCE
#include <errno.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "CTernSystem.h"

int tern_syncfs(int fd) {
#if defined(__linux__)
    return syncfs(fd);
#else
    (void)fd;
    errno = ENOSYS;
    return -1;
#endif
}

void tern_release_free_memory(void) {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

void tern_tune_allocator_for_server(void) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
}
