/* The floor an HTTP client can reach on this machine: N GETs to one server, all
 * at once, each on its own connection, on one thread with epoll and no library
 * in between (no parsing but finding the end of the answer, which the server
 * marks by closing: each request says Connection: close). What ember http
 * spends beyond this is its own (bench/run_http.sh).
 *
 *   http_floor PORT PATH N      GET http://127.0.0.1:PORT/PATH/1 .. /PATH/N
 *
 * Prints "answered ok" counts on stderr; exit 1 when any failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct conn {
    int fd;
    int id;
    size_t sent, req_len;
    char req[256];
    char head[16]; /* the first bytes of the answer: "HTTP/1.1 200" */
    size_t got;
} conn;

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s PORT PATH N\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]), n = atoi(argv[3]);
    const char *path = argv[2];
    conn *c = calloc((size_t)n, sizeof *c);
    int ep = epoll_create1(0);
    if (!c || ep < 0)
        return 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    for (int i = 0; i < n; i++) {
        c[i].id = i + 1;
        c[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (c[i].fd < 0) {
            perror("socket");
            return 1;
        }
        c[i].req_len = (size_t)snprintf(c[i].req, sizeof c[i].req,
                                        "GET /%s/%d HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                        "Connection: close\r\n\r\n",
                                        path, i + 1);
        if (connect(c[i].fd, (struct sockaddr *)&a, sizeof a) && errno != EINPROGRESS) {
            perror("connect");
            return 1;
        }
        struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = &c[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev);
    }
    int open = n, ok = 0, answered = 0;
    struct epoll_event evs[256];
    char buf[65536];
    while (open > 0) {
        int k = epoll_wait(ep, evs, 256, 30000);
        if (k <= 0)
            break;
        for (int e = 0; e < k; e++) {
            conn *x = evs[e].data.ptr;
            if ((evs[e].events & EPOLLOUT) && x->sent < x->req_len) {
                ssize_t w = send(x->fd, x->req + x->sent, x->req_len - x->sent, MSG_NOSIGNAL);
                if (w > 0)
                    x->sent += (size_t)w;
                if (x->sent == x->req_len) {
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = x};
                    epoll_ctl(ep, EPOLL_CTL_MOD, x->fd, &ev);
                }
            }
            if (evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t r;
                while ((r = recv(x->fd, buf, sizeof buf, 0)) > 0) {
                    if (x->got < sizeof x->head) {
                        size_t take = sizeof x->head - x->got < (size_t)r ? sizeof x->head - x->got
                                                                          : (size_t)r;
                        memcpy(x->head + x->got, buf, take);
                    }
                    x->got += (size_t)r;
                }
                if (r == 0 || (r < 0 && errno != EAGAIN)) {
                    answered += x->got > 0;
                    ok += x->got >= 12 && !memcmp(x->head + 9, "200", 3);
                    close(x->fd);
                    open--;
                }
            }
        }
    }
    fprintf(stderr, "%d answered, %d ok\n", answered, ok);
    free(c);
    return ok == n ? 0 : 1;
}
