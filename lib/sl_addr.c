/*
 * sl_addr.c: socket addresses, IPv4 and IPv6 alike.
 *
 * A program that calls getaddrinfo(3) and works with struct sockaddr_storage
 * never needs to know which family it got: the same code serves 127.0.0.1
 * and ::1. These helpers resolve a host and port, print an address the way
 * socklab prints all of them (`127.0.0.1:50006`, `[::1]:50006`: the brackets
 * keep an IPv6 address's colons apart from the port's), and compare two
 * addresses, which a UDP client does before it believes a reply.
 *
 * Ports and addresses travel in network byte order inside a sockaddr; ntohs()
 * turns the port around for printing.
 *
 * Read: getaddrinfo(3), inet_ntop(3), getsockname(2), getpeername(2), ip(7),
 * ipv6(7).
 */
#include "socklab.h"

#include <net/if.h>

/* `[` address `%` scope `]`: the scope names the interface of a link-local
 * address (fe80::...), which is meaningless without it. */
static void format_in6(const struct sockaddr_in6 *sin6, char *out, size_t outlen)
{
    char host[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);

    char scope[IF_NAMESIZE + 2] = "";
    if (sin6->sin6_scope_id != 0) {
        char ifname[IF_NAMESIZE];
        if (if_indextoname(sin6->sin6_scope_id, ifname) != NULL)
            snprintf(scope, sizeof scope, "%%%s", ifname);
        else
            snprintf(scope, sizeof scope, "%%%u", (unsigned)sin6->sin6_scope_id);
    }
    snprintf(out, outlen, "[%s%s]:%u", host, scope, (unsigned)ntohs(sin6->sin6_port));
}

char *sl_addr_format(const struct sockaddr *sa, socklen_t salen, char *out, size_t outlen)
{
    if (out == NULL || outlen == 0)
        return out;

    if (sa != NULL && sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        char host[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
        snprintf(out, outlen, "%s:%u", host, (unsigned)ntohs(sin->sin_port));
        return out;
    }
    if (sa != NULL && sa->sa_family == AF_INET6 && salen >= sizeof(struct sockaddr_in6)) {
        format_in6((const struct sockaddr_in6 *)sa, out, outlen);
        return out;
    }
    snprintf(out, outlen, "?");
    return out;
}

char *sl_sock_local(int fd, char *out, size_t outlen)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return NULL;
    return sl_addr_format((struct sockaddr *)&ss, len, out, outlen);
}

char *sl_sock_peer(int fd, char *out, size_t outlen)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
        return NULL;
    return sl_addr_format((struct sockaddr *)&ss, len, out, outlen);
}

int sl_resolve(const char *host, const char *port, int socktype, bool passive,
               struct addrinfo **res, char *err, size_t errlen)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC; /* whatever the host is: IPv4, IPv6 or both */
    hints.ai_socktype = socktype;
    /* AI_NUMERICSERV: the port is a number, never looked up in
     * /etc/services. AI_PASSIVE: a NULL host means "any address". */
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);

    *res = NULL;
    int rc = getaddrinfo(host, port, &hints, res);
    if (rc == 0)
        return 0;

    *res = NULL;
    const char *shown = host != NULL ? host : "*";
    /* getaddrinfo reports through its own codes; only EAI_SYSTEM means
     * "look at errno". */
    if (rc == EAI_SYSTEM)
        sl_set_err(err, errlen, errno, "getaddrinfo %s", shown);
    else
        sl_set_err(err, errlen, 0, "getaddrinfo %s: %s", shown, gai_strerror(rc));
    return -1;
}

/* Copy an address into a sockaddr_storage, turning an IPv4-mapped IPv6
 * address (::ffff:a.b.c.d, what a dual-stack socket reports for an IPv4
 * peer) into the plain IPv4 address it stands for. Returns false for a
 * family other than AF_INET and AF_INET6, or a length too short for it. */
static bool normalize(const struct sockaddr *sa, socklen_t salen, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof *out);
    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in)) {
        memcpy(out, sa, sizeof(struct sockaddr_in));
        return true;
    }
    if (sa->sa_family != AF_INET6 || salen < sizeof(struct sockaddr_in6))
        return false;

    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
    if (!IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
        memcpy(out, sa, sizeof(struct sockaddr_in6));
        return true;
    }
    struct sockaddr_in *sin = (struct sockaddr_in *)out;
    sin->sin_family = AF_INET;
    sin->sin_port = sin6->sin6_port;
    memcpy(&sin->sin_addr, &sin6->sin6_addr.s6_addr[12], sizeof sin->sin_addr);
    return true;
}

bool sl_addr_equal(const struct sockaddr *a, socklen_t alen, const struct sockaddr *b,
                   socklen_t blen)
{
    struct sockaddr_storage na, nb;
    if (!normalize(a, alen, &na) || !normalize(b, blen, &nb))
        return false;
    if (na.ss_family != nb.ss_family)
        return false;

    if (na.ss_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)&na;
        const struct sockaddr_in *y = (const struct sockaddr_in *)&nb;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)&na;
    const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)&nb;
    /* A scope of 0 means "not given"; two given scopes must agree, since
     * fe80::1 on one interface is not fe80::1 on another. */
    bool scopes_agree =
        x->sin6_scope_id == 0 || y->sin6_scope_id == 0 || x->sin6_scope_id == y->sin6_scope_id;
    return x->sin6_port == y->sin6_port && scopes_agree &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}
