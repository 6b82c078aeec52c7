#ifndef CEPOLL_H
#define CEPOLL_H
// Linux event notification headers that Glibc's Swift module does not export.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <malloc.h>  // malloc_trim

/// prctl(PR_SET_PDEATHSIG, signal): the kernel sends `signal` to this process when the thread
/// that started it exits (node processes of `florian demo` and the chaos tests die with it).
int CEpoll_set_parent_death_signal(int signal);
#endif
