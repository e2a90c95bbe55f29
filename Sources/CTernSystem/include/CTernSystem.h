#ifndef C_TERN_SYSTEM_H
#define C_TERN_SYSTEM_H

/// syncfs(2): writes every dirty page and inode of the filesystem holding `fd` to stable
/// storage and returns when they are there (Linux; since 5.8 it also reports writeback
/// errors). Swift's Glibc module does not export it. Returns -1 with errno ENOSYS on systems
/// without it.
int tern_syncfs(int fd);

#endif
