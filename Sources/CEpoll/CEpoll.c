// Headers only: this target exists to import epoll and eventfd into Swift.
#include "CEpoll.h"
