// Linux calls Swift cannot import directly (headers Glibc's module lacks, variadic prctl).
#include "CEpoll.h"
#include <sys/prctl.h>

int CEpoll_set_parent_death_signal(int signal) {
    return prctl(PR_SET_PDEATHSIG, signal, 0, 0, 0);
}
