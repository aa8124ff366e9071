/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * caplimit run, the running half.  COMMAND runs in a process group of its
 * own, so that caplimit can reach every process it starts: signals are
 * passed on to the group, and whatever is left of the group when COMMAND
 * ends is killed before the tokens go back.  If caplimit is killed the
 * library takes its tokens back (R26), and then nothing of COMMAND may go
 * on running: the child has PR_SET_PDEATHSIG (Linux), and a guard process
 * kills the group when caplimit's end of a pipe closes without a word.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "run.h"

static void close_pair(int p[2])
{
    close(p[0]);
    close(p[1]);
}

static int cloexec_pipe(int p[2])
{
    if (pipe(p) != 0)
        return -1;
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    return 0;
}

/* In the child: waits for the go (EOF: caplimit died before it), then
 * becomes COMMAND; a failed exec sends its errno back. */
static void be_command(struct run *r, pid_t parent, int go, int status)
{
    char c;
    int err;

    setpgid(0, 0);
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
    if (getppid() != parent || read(go, &c, 1) != 1)
        _exit(CMD_EX_SOFTWARE);
    close(go);
    pthread_sigmask(SIG_SETMASK, &r->orig_mask, NULL);
    execvp(r->argv[0], r->argv);
    err = errno;
    if (write(status, &err, sizeof err) < 0)
        _exit(CMD_EX_SOFTWARE);
    _exit(err == ENOENT ? 127 : 126);
}

/* In the guard: one byte from caplimit means COMMAND's group is already
 * dealt with; EOF without it means caplimit is gone. */
static void be_guard(pid_t group, int from_caplimit)
{
    sigset_t none;
    ssize_t n;
    char c;
    int fd = open("/dev/null", O_RDWR);

    setpgid(0, 0);                           /* out of the terminal's way */
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    signal(SIGTSTP, SIG_IGN);
    if (fd >= 0) {                           /* hold no pipe a reader waits on */
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    do
        n = read(from_caplimit, &c, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1)
        kill(-group, SIGKILL);
    _exit(0);
}

static int exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return CMD_EX_SOFTWARE;
}

/* COMMAND has ended (a zombie, so its group id cannot be reused): what it
 * left behind in its group is killed, then it is reaped. */
static int finish(pid_t pid)
{
    int status;

    kill(-pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return CMD_EX_SOFTWARE;
    return exit_code(status);
}

static int command_ended(pid_t pid)
{
    siginfo_t si;

    memset(&si, 0, sizeof si);
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           si.si_pid == pid;
}

/* Passes signals on to COMMAND's group until COMMAND ends. */
static int supervise(struct run *r, pid_t pid)
{
    siginfo_t si;
    int sig;

    for (;;) {
        if (command_ended(pid))
            return finish(pid);
        sig = sigwaitinfo(&r->caught, &si);
        if (sig < 0 || sig == SIGCHLD || sig == SIGRTMIN)
            continue;
        if (sig == SIGTSTP) {                /* ^Z: stop the group, then caplimit */
            kill(-pid, SIGTSTP);
            raise(SIGSTOP);
            continue;
        }
        kill(-pid, sig);                     /* SIGCONT too: fg after ^Z */
    }
}

static int start_failed(struct run *r, pid_t pid, int err)
{
    finish(pid);
    cmd_error(r->argv[0], "%s", strerror(err));
    return err == ENOENT ? 127 : 126;
}

int run_command(struct run *r)
{
    int go[2], status[2], guard[2], err, code;
    pid_t parent = getpid(), pid, gpid;
    ssize_t n;

    if (cloexec_pipe(go) != 0 || cloexec_pipe(status) != 0 || cloexec_pipe(guard) != 0)
        return cmd_fail(r->arg, errno);
    fflush(NULL);
    if ((pid = fork()) < 0)
        return cmd_fail(r->arg, errno);
    if (pid == 0) {
        close(go[1]);
        close(status[0]);
        close_pair(guard);
        be_command(r, parent, go[0], status[1]);
    }
    setpgid(pid, pid);                       /* whichever of the two runs first */
    close(go[0]);
    close(status[1]);
    if ((gpid = fork()) == 0) {
        close(go[1]);
        close(status[0]);
        close(guard[1]);
        be_guard(pid, guard[0]);
    }
    close(guard[0]);
    if (gpid < 0 || write(go[1], "g", 1) != 1) {
        err = errno;
        close(go[1]);
        finish(pid);
        return cmd_fail(r->arg, err);
    }
    close(go[1]);
    while ((n = read(status[0], &err, sizeof err)) < 0 && errno == EINTR)
        ;
    close(status[0]);
    code = n == (ssize_t)sizeof err ? start_failed(r, pid, err) : supervise(r, pid);
    if (write(guard[1], "d", 1) == 1)        /* stand the guard down */
        waitpid(gpid, NULL, 0);
    close(guard[1]);
    if (r->verbose)
        cmd_error(r->arg, "%s ended with status %d", r->argv[0], code);
    return code;
}
