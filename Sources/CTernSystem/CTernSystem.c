#define _GNU_SOURCE
#include <errno.h>
#include <sys/resource.h>
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

long long tern_raise_open_file_limit(void) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
    rlim_t wanted = limit.rlim_max;
    if (wanted == RLIM_INFINITY || wanted > 1048576) wanted = 1048576;
    if (limit.rlim_cur < wanted) {
        struct rlimit raised = { wanted, limit.rlim_max };
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit.rlim_cur = wanted;
    }
    return (long long)limit.rlim_cur;
}
