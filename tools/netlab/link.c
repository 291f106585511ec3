/*
 * link.c: netlab's userspace link, a wire between two network namespaces
 * that delays, drops and reorders packets.
 *
 *   netlab-link [-d MS] [-j MS] [-l PCT] [-r PCT] [-s SEED] [-q PACKETS]
 *               [-i IFNAME] NETNS_A NETNS_B
 *
 * NETNS_A and NETNS_B are names under /run/netns (what `ip netns add`
 * makes) or paths of network-namespace files. In each one it creates a TUN
 * device (IFNAME, default nl0: IFF_TUN | IFF_NO_PI, so every read() is one
 * bare IP packet and every write() injects one), prints `ready` once both
 * exist, and then forwards every packet that one side's kernel routes into
 * its device out of the other side's device. Whoever started it gives the
 * devices their addresses and brings them up (tools/netlab does).
 *
 * Why not netem: `tc qdisc ... netem` does this in the kernel, but many
 * kernels (this project's CI among them) are built without sch_netem. A
 * TUN device needs only CONFIG_TUN, and the whole "network" becomes a
 * small program a student can read.
 *
 * Each direction applies, independently, with the same settings:
 *
 *  - loss (-l PCT): the packet is dropped with probability PCT/100;
 *  - delay (-d MS) and jitter (-j MS): it is held for a time drawn
 *    uniformly from [MS - J, MS + J] (never below zero). Jitter alone never
 *    reorders: a packet is never released before the one read before it,
 *    as on a real path, where queues are FIFO;
 *  - reorder (-r PCT): with probability PCT/100 the packet is held back an
 *    extra max(MS, REORDER_MIN_HOLD_MS), outside that FIFO rule, so the
 *    packets behind it overtake it. The tally counts a packet as reordered
 *    only when a later packet really was released before it.
 *
 * Every decision comes from a PRNG seeded with -s (one stream per
 * direction, three draws per packet whatever the settings), so the same
 * seed and the same traffic give the same losses: a run is repeatable.
 *
 * Memory is bounded: each direction holds at most -q packets (default
 * 1000, like netem's limit) in a fixed pool allocated at start; a packet
 * that finds the pool full is dropped, as a full router queue would. The
 * packets waiting are kept in a binary min-heap ordered by release time.
 *
 * One thread, one ppoll() loop: it sleeps until a device is readable or
 * the next packet is due, with SIGTERM and SIGINT blocked except inside
 * ppoll(), so a signal can only arrive while it sleeps. On either signal it
 * prints one tally line on standard error and exits 0; packets still
 * queued are discarded and counted.
 *
 * Read: tun(4) ("Universal TUN/TAP device driver", the kernel's
 * Documentation/networking/tuntap.rst), setns(2), network_namespaces(7),
 * ppoll(2), tc-netem(8) for what it imitates.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

enum {
    QUEUE_PACKETS_DEFAULT = 1000,
    QUEUE_PACKETS_MAX = 100000,
    /* A slot holds one packet of the default TUN MTU (1500) with room to spare. */
    PACKET_SLOT_BYTES = 2048,
    /* Packets read from one device per wake-up, so neither side starves the other. */
    READ_BATCH_PACKETS = 64,
    REORDER_MIN_HOLD_MS = 10,
    DELAY_MAX_MS = 60000,
};

#define NS_PER_MS 1000000ull

static const char *prog = "netlab-link";

/** What happens to the packets of one direction. */
struct impairment {
    double delay_ms;
    double jitter_ms;
    double loss_pct;
    double reorder_pct;
};

/** One waiting packet: when it is due, its arrival number, where its bytes are. */
struct queued {
    uint64_t due_ns;
    uint64_t seq;
    uint32_t slot;
};

/** What one direction has done, for the tally line. */
struct tally {
    uint64_t forwarded;
    uint64_t lost;
    uint64_t queue_full;
    uint64_t too_big;
    uint64_t write_errors;
    uint64_t reordered;
};

/** One direction of the link: packets read from `from_fd`, written to `to_fd`. */
struct direction {
    const char *from_name;
    const char *to_name;
    int from_fd;
    int to_fd;
    struct impairment imp;
    uint64_t rng;
    size_t capacity;
    unsigned char *slot_bytes; /* capacity * PACKET_SLOT_BYTES */
    uint16_t *slot_len;
    uint32_t *free_slots; /* a stack of unused slot numbers */
    size_t free_count;
    struct queued *heap; /* min-heap on (due_ns, seq) */
    size_t heap_count;
    uint64_t fifo_floor_ns; /* release time of the last packet not held back */
    uint64_t next_seq;
    uint64_t highest_released_seq;
    bool released_any;
    struct tally tally;
};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "%s: %s: %s\n", prog, what, detail);
    exit(1);
}

static void die_errno(const char *what, const char *object)
{
    fprintf(stderr, "%s: %s %s: %s\n", prog, what, object, strerror(errno));
    exit(1);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: %s [-d MS] [-j MS] [-l PCT] [-r PCT] [-s SEED] [-q PACKETS] [-i IFNAME]"
            " NETNS_A NETNS_B\n",
            prog);
    exit(2);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* splitmix64: tiny, fast, and good enough to decide the fate of packets. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/** A uniform draw in [0, 1). */
static double rng_unit(uint64_t *state)
{
    return (double)(rng_next(state) >> 11) * 0x1.0p-53;
}

static double parse_number(const char *text, double min, double max, const char *what)
{
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(value >= min && value <= max)) {
        fprintf(stderr, "%s: bad %s '%s' (want %g to %g)\n", prog, what, text, min, max);
        usage();
    }
    return value;
}

static uint64_t parse_seed(const char *text)
{
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 0);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-') {
        fprintf(stderr, "%s: bad seed '%s' (want an unsigned integer)\n", prog, text);
        usage();
    }
    return (uint64_t)value;
}

/*
 * Create TUN device `ifname` inside the namespace `netns` and return its fd.
 * The device belongs to the namespace the process is in when it opens
 * /dev/net/tun, so we step into the target namespace for the open and the
 * TUNSETIFF, then step back: the fd stays bound to that namespace's device.
 */
static int open_tun_in(const char *netns, const char *ifname)
{
    char path[4096];
    if (strchr(netns, '/') != NULL)
        snprintf(path, sizeof path, "%s", netns);
    else
        snprintf(path, sizeof path, "/run/netns/%s", netns);

    int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0)
        die_errno("open", "/proc/self/ns/net");
    int target = open(path, O_RDONLY | O_CLOEXEC);
    if (target < 0)
        die_errno("open", path);
    if (setns(target, CLONE_NEWNET) < 0)
        die_errno("setns", path);

    int tun = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (tun < 0)
        die_errno("open", "/dev/net/tun");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    if (ioctl(tun, TUNSETIFF, &ifr) < 0)
        die_errno("ioctl TUNSETIFF in", path);

    if (setns(home, CLONE_NEWNET) < 0)
        die_errno("setns back from", path);
    close(target);
    close(home);
    return tun;
}

static void direction_init(struct direction *dir, const char *from_name, const char *to_name,
                           int from_fd, int to_fd, const struct impairment *imp, uint64_t seed,
                           size_t capacity)
{
    memset(dir, 0, sizeof *dir);
    dir->from_name = from_name;
    dir->to_name = to_name;
    dir->from_fd = from_fd;
    dir->to_fd = to_fd;
    dir->imp = *imp;
    dir->rng = seed;
    dir->capacity = capacity;
    dir->slot_bytes = malloc(capacity * PACKET_SLOT_BYTES);
    dir->slot_len = calloc(capacity, sizeof *dir->slot_len);
    dir->free_slots = calloc(capacity, sizeof *dir->free_slots);
    dir->heap = calloc(capacity, sizeof *dir->heap);
    if (!dir->slot_bytes || !dir->slot_len || !dir->free_slots || !dir->heap)
        die("malloc", "out of memory");
    for (size_t i = 0; i < capacity; i++)
        dir->free_slots[i] = (uint32_t)(capacity - 1 - i);
    dir->free_count = capacity;
}

static void direction_free(struct direction *dir)
{
    free(dir->slot_bytes);
    free(dir->slot_len);
    free(dir->free_slots);
    free(dir->heap);
}

static bool queued_before(const struct queued *a, const struct queued *b)
{
    return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

static void heap_push(struct direction *dir, struct queued item)
{
    size_t i = dir->heap_count++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!queued_before(&item, &dir->heap[parent]))
            break;
        dir->heap[i] = dir->heap[parent];
        i = parent;
    }
    dir->heap[i] = item;
}

static struct queued heap_pop(struct direction *dir)
{
    struct queued top = dir->heap[0];
    struct queued last = dir->heap[--dir->heap_count];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= dir->heap_count)
            break;
        if (child + 1 < dir->heap_count &&
            queued_before(&dir->heap[child + 1], &dir->heap[child]))
            child++;
        if (!queued_before(&dir->heap[child], &last))
            break;
        dir->heap[i] = dir->heap[child];
        i = child;
    }
    if (dir->heap_count > 0)
        dir->heap[i] = last;
    return top;
}

/* Decide the fate of one packet just read, and queue it if it survives. */
static void admit_packet(struct direction *dir, const unsigned char *bytes, size_t len,
                         uint64_t now)
{
    /* Always three draws, so that one setting never shifts another's stream. */
    double loss_draw = rng_unit(&dir->rng);
    double jitter_draw = rng_unit(&dir->rng);
    double reorder_draw = rng_unit(&dir->rng);

    if (len > PACKET_SLOT_BYTES) {
        dir->tally.too_big++;
        return;
    }
    if (loss_draw * 100.0 < dir->imp.loss_pct) {
        dir->tally.lost++;
        return;
    }
    if (dir->free_count == 0) {
        dir->tally.queue_full++;
        return;
    }

    double delay_ms = dir->imp.delay_ms + (2.0 * jitter_draw - 1.0) * dir->imp.jitter_ms;
    if (delay_ms < 0)
        delay_ms = 0;
    uint64_t due = now + (uint64_t)(delay_ms * (double)NS_PER_MS);
    if (reorder_draw * 100.0 < dir->imp.reorder_pct) {
        double hold_ms =
            dir->imp.delay_ms > REORDER_MIN_HOLD_MS ? dir->imp.delay_ms : REORDER_MIN_HOLD_MS;
        due += (uint64_t)(hold_ms * (double)NS_PER_MS);
    } else {
        if (due < dir->fifo_floor_ns)
            due = dir->fifo_floor_ns;
        dir->fifo_floor_ns = due;
    }

    uint32_t slot = dir->free_slots[--dir->free_count];
    memcpy(dir->slot_bytes + (size_t)slot * PACKET_SLOT_BYTES, bytes, len);
    dir->slot_len[slot] = (uint16_t)len;
    heap_push(dir, (struct queued){.due_ns = due, .seq = dir->next_seq++, .slot = slot});
}

/* Read what the sending side's kernel has routed into its device, up to a batch. */
static void receive_packets(struct direction *dir, unsigned char *packet, size_t size)
{
    for (int i = 0; i < READ_BATCH_PACKETS; i++) {
        ssize_t n = read(dir->from_fd, packet, size);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            die_errno("read from", dir->from_name);
        }
        admit_packet(dir, packet, (size_t)n, now_ns());
    }
}

/* Write every packet whose time has come into the receiving side's device. */
static void release_due_packets(struct direction *dir, uint64_t now)
{
    while (dir->heap_count > 0 && dir->heap[0].due_ns <= now) {
        struct queued item = heap_pop(dir);
        const unsigned char *bytes = dir->slot_bytes + (size_t)item.slot * PACKET_SLOT_BYTES;
        if (write(dir->to_fd, bytes, dir->slot_len[item.slot]) < 0) {
            /* The receiving stack refused it (device down, no buffer): a loss. */
            dir->tally.write_errors++;
        } else {
            dir->tally.forwarded++;
            if (dir->released_any && item.seq < dir->highest_released_seq)
                dir->tally.reordered++;
            if (!dir->released_any || item.seq > dir->highest_released_seq)
                dir->highest_released_seq = item.seq;
            dir->released_any = true;
        }
        dir->free_slots[dir->free_count++] = item.slot;
    }
}

static void print_tally(const struct direction *dir)
{
    const struct tally *t = &dir->tally;
    uint64_t dropped = t->lost + t->queue_full + t->too_big + t->write_errors;
    fprintf(stderr,
            "%s->%s: %" PRIu64 " forwarded, %" PRIu64 " dropped (%" PRIu64 " lost, %" PRIu64
            " queue full, %" PRIu64 " too big, %" PRIu64 " refused), %" PRIu64
            " reordered, %zu still queued",
            dir->from_name, dir->to_name, t->forwarded, dropped, t->lost, t->queue_full,
            t->too_big, t->write_errors, t->reordered, dir->heap_count);
}

/* How long ppoll() may sleep: until the earliest due packet, or forever. */
static struct timespec *sleep_until_due(const struct direction dirs[2], uint64_t now,
                                        struct timespec *ts)
{
    uint64_t earliest = UINT64_MAX;
    for (int i = 0; i < 2; i++)
        if (dirs[i].heap_count > 0 && dirs[i].heap[0].due_ns < earliest)
            earliest = dirs[i].heap[0].due_ns;
    if (earliest == UINT64_MAX)
        return NULL;
    uint64_t wait = earliest > now ? earliest - now : 0;
    ts->tv_sec = (time_t)(wait / 1000000000ull);
    ts->tv_nsec = (long)(wait % 1000000000ull);
    return ts;
}

static void run_link(struct direction dirs[2], const sigset_t *wait_mask)
{
    unsigned char packet[65536]; /* a TUN read is one whole packet, whatever its size */
    struct pollfd fds[2] = {
        {.fd = dirs[0].from_fd, .events = POLLIN},
        {.fd = dirs[1].from_fd, .events = POLLIN},
    };
    while (!stop_requested) {
        uint64_t now = now_ns();
        release_due_packets(&dirs[0], now);
        release_due_packets(&dirs[1], now);

        struct timespec ts;
        int ready = ppoll(fds, 2, sleep_until_due(dirs, now_ns(), &ts), wait_mask);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            die_errno("ppoll", "devices");
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].revents & (POLLERR | POLLHUP | POLLNVAL))
                die("device gone", dirs[i].from_name);
            if (fds[i].revents & POLLIN)
                receive_packets(&dirs[i], packet, sizeof packet);
        }
    }
}

int main(int argc, char **argv)
{
    struct impairment imp = {0};
    uint64_t seed = 1;
    size_t capacity = QUEUE_PACKETS_DEFAULT;
    const char *ifname = "nl0";
    int opt;
    while ((opt = getopt(argc, argv, "d:j:l:r:s:q:i:h")) != -1) {
        switch (opt) {
        case 'd': imp.delay_ms = parse_number(optarg, 0, DELAY_MAX_MS, "delay"); break;
        case 'j': imp.jitter_ms = parse_number(optarg, 0, DELAY_MAX_MS, "jitter"); break;
        case 'l': imp.loss_pct = parse_number(optarg, 0, 100, "loss percentage"); break;
        case 'r': imp.reorder_pct = parse_number(optarg, 0, 100, "reorder percentage"); break;
        case 's': seed = parse_seed(optarg); break;
        case 'q':
            capacity = (size_t)parse_number(optarg, 1, QUEUE_PACKETS_MAX, "queue length");
            break;
        case 'i':
            if (strlen(optarg) == 0 || strlen(optarg) >= IFNAMSIZ)
                usage();
            ifname = optarg;
            break;
        default: usage();
        }
    }
    if (argc - optind != 2)
        usage();
    const char *name_a = argv[optind];
    const char *name_b = argv[optind + 1];

    /*
     * Block the stop signals before anything else: from here on they can
     * only be delivered inside ppoll(), which cannot then miss one that
     * arrives between checking the flag and going to sleep.
     */
    sigset_t stop_signals, wait_mask;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigprocmask(SIG_BLOCK, &stop_signals, &wait_mask);
    sigdelset(&wait_mask, SIGTERM);
    sigdelset(&wait_mask, SIGINT);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    /*
     * Should whoever started us die without stopping us (SIGKILL), stop
     * anyway: the devices vanish with us, rather than a link nobody owns.
     */
    prctl(PR_SET_PDEATHSIG, SIGTERM);

    int fd_a = open_tun_in(name_a, ifname);
    int fd_b = open_tun_in(name_b, ifname);

    /* Separate streams per direction: one side's traffic never shifts the other's fate. */
    uint64_t seed_state = seed;
    struct direction dirs[2];
    direction_init(&dirs[0], name_a, name_b, fd_a, fd_b, &imp, rng_next(&seed_state), capacity);
    direction_init(&dirs[1], name_b, name_a, fd_b, fd_a, &imp, rng_next(&seed_state), capacity);

    printf("ready\n");
    fflush(stdout);

    run_link(dirs, &wait_mask);

    fprintf(stderr, "%s: seed %" PRIu64 "; ", prog, seed);
    print_tally(&dirs[0]);
    fprintf(stderr, "; ");
    print_tally(&dirs[1]);
    fprintf(stderr, "\n");
    direction_free(&dirs[0]);
    direction_free(&dirs[1]);
    close(fd_a);
    close(fd_b);
    return 0;
}
