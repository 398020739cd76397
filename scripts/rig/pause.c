/* The pod sandbox ("pause") process for the rig's CRI: sleeps until
 * SIGTERM/SIGINT, reaps nothing, exits 0. Built with gcc -static so the
 * image needs no libc. */
#include <signal.h>
#include <unistd.h>

static void done(int sig) {
    (void)sig;
    _exit(0);
}

int main(void) {
    signal(SIGTERM, done);
    signal(SIGINT, done);
    for (;;)
        pause();
}
