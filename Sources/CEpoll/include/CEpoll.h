#ifndef CEPOLL_H
#define CEPOLL_H
// Linux event notification headers that Glibc's Swift module does not export.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#endif
