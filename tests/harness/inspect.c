/*
 * inspect.c: look at a running program from outside, through /proc.
 *
 * What a lab's server "must show" (threads, child processes, zombies, open
 * descriptors and their flags, CPU time, memory) is read here, the way `ps`
 * and `ls -l /proc/PID/fd` would, never by asking the program. See proc(5).
 */
#include "harness.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

/* Read a small /proc file into buf; its length, or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = sl_read_full(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

/* The value of "Key:" in /proc/PID/status, or -1. */
static long status_field(pid_t pid, const char *key)
{
    char path[64], buf[8192];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if (read_small(path, buf, sizeof buf) < 0)
        return -1;
    size_t klen = strlen(key);
    for (char *line = buf; line;) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':')
            return strtol(line + klen + 1, NULL, 10);
        char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : NULL;
    }
    return -1;
}

/* Parse /proc/PID/stat: state, parent id, and utime+stime in ticks. The
 * command name may contain spaces and parentheses, so parse after the last ')'. */
static int read_stat(const char *path, char *state, pid_t *ppid, unsigned long long *ticks)
{
    char buf[1024];
    if (read_small(path, buf, sizeof buf) < 0)
        return -1;
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    char st;
    int pp;
    unsigned long long ut, stt;
    /* fields 3..15: state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime */
    if (sscanf(p + 2, "%c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &st, &pp, &ut,
               &stt) != 4)
        return -1;
    if (state)
        *state = st;
    if (ppid)
        *ppid = pp;
    if (ticks)
        *ticks = ut + stt;
    return 0;
}

/* PF_IO_WORKER in a task's flags (/proc/PID/task/TID/stat, field 9): an
 * io_uring worker the kernel started on the process's behalf. */
#define TASK_FLAG_IO_WORKER 0x10u

/* Field 9 (flags) of a /proc stat file, or -1 when it cannot be read. */
static long long stat_flags(const char *path)
{
    char buf[1024];
    if (read_small(path, buf, sizeof buf) < 0)
        return -1;
    char *p = strrchr(buf, ')');
    unsigned long flags;
    /* after ')': state ppid pgrp session tty tpgid flags */
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
        return -1;
    return (long long)flags;
}

int hn_tasks(pid_t pid, pid_t *tids, double *cpu_s, int max)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char stat[320];
        snprintf(stat, sizeof stat, "/proc/%d/task/%s/stat", (int)pid, e->d_name);
        long long flags = stat_flags(stat);
        if (flags < 0 || ((unsigned long long)flags & TASK_FLAG_IO_WORKER))
            continue; /* gone meanwhile, or a kernel io_uring worker */
        if (n < max) {
            unsigned long long ticks = 0;
            if (tids != NULL)
                tids[n] = (pid_t)atoi(e->d_name);
            if (cpu_s != NULL)
                cpu_s[n] = read_stat(stat, NULL, NULL, &ticks) == 0
                               ? (double)ticks / (double)sysconf(_SC_CLK_TCK)
                               : 0.0;
        }
        n++;
    }
    closedir(d);
    return n;
}

int hn_threads(pid_t pid)
{
    return hn_tasks(pid, NULL, NULL, 0);
}

long hn_context_switches(pid_t pid)
{
    long vol = status_field(pid, "voluntary_ctxt_switches");
    long invol = status_field(pid, "nonvoluntary_ctxt_switches");
    return vol < 0 || invol < 0 ? -1 : vol + invol;
}

long hn_rss_kib(pid_t pid)
{
    return status_field(pid, "VmRSS");
}

char hn_state(pid_t pid)
{
    char path[64], st;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    return read_stat(path, &st, NULL, NULL) == 0 ? st : '?';
}

double hn_cpu_seconds(pid_t pid)
{
    char path[64];
    unsigned long long ticks;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (read_stat(path, NULL, NULL, &ticks) < 0)
        return -1;
    return (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

/* The processes whose parent is pid (only zombies, if asked): their ids in
 * out, up to max, and their number. */
static int for_children(pid_t pid, pid_t *out, int max, bool zombies_only)
{
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[300], st;
        pid_t ppid;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        if (read_stat(path, &st, &ppid, NULL) < 0 || ppid != pid)
            continue;
        if (zombies_only && st != 'Z')
            continue;
        if (out && n < max)
            out[n] = (pid_t)atoi(e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

int hn_children(pid_t pid, pid_t *out, int max)
{
    return for_children(pid, out, max, false);
}

int hn_descendants(pid_t pid, pid_t *out, int max)
{
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    /* Every process and its parent, read in one pass. */
    size_t cap = 1024, count = 0;
    pid_t(*pairs)[2] = malloc(cap * sizeof *pairs);
    struct dirent *e;
    while (pairs != NULL && (e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[300], st;
        pid_t ppid;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        if (read_stat(path, &st, &ppid, NULL) < 0)
            continue;
        if (count == cap) {
            pid_t(*more)[2] = realloc(pairs, 2 * cap * sizeof *pairs);
            if (more == NULL)
                break;
            pairs = more;
            cap *= 2;
        }
        pairs[count][0] = (pid_t)atoi(e->d_name);
        pairs[count][1] = ppid;
        count++;
    }
    closedir(d);
    if (pairs == NULL)
        return -1;
    /* Breadth first, from pid down: parents come before their children. */
    pid_t *queue = malloc((count + 1) * sizeof *queue);
    if (queue == NULL) {
        free(pairs);
        return -1;
    }
    size_t head = 0, tail = 0;
    queue[tail++] = pid;
    while (head < tail) {
        pid_t parent = queue[head++];
        for (size_t i = 0; i < count && tail <= count; i++)
            if (pairs[i][1] == parent && pairs[i][0] != pid)
                queue[tail++] = pairs[i][0];
    }
    int n = (int)(tail - 1);
    for (int i = 0; i < n && i < max; i++)
        out[i] = queue[i + 1];
    free(queue);
    free(pairs);
    return n;
}

int hn_zombies(pid_t pid)
{
    return for_children(pid, NULL, 0, true);
}

int hn_fd_count(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

int hn_socket_fds(pid_t pid, int *out, int max)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char link[600], target[128];
        snprintf(link, sizeof link, "%s/%s", path, e->d_name);
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len < 0)
            continue;
        target[len] = '\0';
        if (strncmp(target, "socket:", 7) != 0)
            continue;
        if (out && n < max)
            out[n] = atoi(e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

int hn_fd_links(pid_t pid, const char *target, int *fd_out)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    int n = 0, highest = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char link[600], text[128];
        snprintf(link, sizeof link, "%s/%s", path, e->d_name);
        ssize_t len = readlink(link, text, sizeof text - 1);
        if (len < 0)
            continue;
        text[len] = '\0';
        if (strcmp(text, target) != 0)
            continue;
        n++;
        if (atoi(e->d_name) > highest)
            highest = atoi(e->d_name);
    }
    closedir(d);
    if (fd_out && n > 0)
        *fd_out = highest;
    return n;
}

int hn_fd_flags(pid_t pid, int fd, unsigned *flags)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/fdinfo/%d", (int)pid, fd);
    if (read_small(path, buf, sizeof buf) < 0)
        return -1;
    char *f = strstr(buf, "flags:");
    if (!f)
        return -1;
    *flags = (unsigned)strtoul(f + 6, NULL, 8);
    return 0;
}

/* True when every thread of pid is asleep in the kernel (state S). */
static bool all_threads_sleep(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return false;
    bool all = true;
    int seen = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char stat[600], st;
        snprintf(stat, sizeof stat, "%s/%s/stat", path, e->d_name);
        if (read_stat(stat, &st, NULL, NULL) < 0 || st != 'S')
            all = false;
        seen++;
    }
    closedir(d);
    return all && seen > 0;
}

bool hn_wait_blocked(pid_t pid, int timeout_ms)
{
    struct timespec step = { 0, 2 * 1000 * 1000 };
    for (int waited = 0; waited <= timeout_ms; waited += 2) {
        /* Twice in a row, so a thread caught between two calls is not taken
         * for one that is blocked. */
        if (all_threads_sleep(pid)) {
            nanosleep(&step, NULL);
            if (all_threads_sleep(pid))
                return true;
        }
        nanosleep(&step, NULL);
    }
    return false;
}

long hn_status_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    size_t flen = strlen(field);
    long value = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            value = strtol(line + flen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return value;
}

int hn_thread_stacks(pid_t pid)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    unsigned long page = (unsigned long)sysconf(_SC_PAGESIZE);
    int stacks = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long start, end, offset, inode;
        char perms[8], dev[16];
        int used = 0;
        if (sscanf(line, "%lx-%lx %7s %lx %15s %lu %n", &start, &end, perms, &offset, dev,
                   &inode, &used) < 6)
            continue;
        /* pthreads puts one inaccessible page below each stack it maps;
         * nothing else in a process maps a lone anonymous page like it. */
        bool anonymous = inode == 0 && (line[used] == '\n' || line[used] == '\0');
        if (anonymous && strcmp(perms, "---p") == 0 && end - start == page)
            stacks++;
    }
    fclose(f);
    return stacks;
}

long long hn_thread_sigblk(pid_t pid, pid_t tid)
{
    char path[96], line[256];
    snprintf(path, sizeof path, "/proc/%d/task/%d/status", (int)pid, (int)tid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    long long mask = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "SigBlk:", 7) == 0) {
            mask = (long long)strtoull(line + 7, NULL, 16);
            break;
        }
    }
    fclose(f);
    return mask;
}
