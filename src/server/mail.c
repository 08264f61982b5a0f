/* Delivery of the outbox by SMTP. Every message is first written durably as a file in
 * <state_dir>/outbox/ (account.c); when smtp.url is set, this thread sends each file to the mail
 * server and moves it to outbox/sent/. A failure leaves the file for the next round, so nothing
 * is lost when the mail server is down or the gateway restarts. Plain SMTP (no STARTTLS, no
 * AUTH): point it at a local relay. */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mail.h"
#include "connect.h"
#include "rampart/net.h"

#define SMTP_TIMEOUT_MS 10000
#define MAIL_MAX (1u << 20)

struct smtp {
    int fd;
    char buf[4096];
    size_t len;
};

static int smtp_send(struct smtp *s, const char *data, size_t n)
{
    while (n) {
        ssize_t w = send(s->fd, data, n, MSG_NOSIGNAL);
        if (w <= 0)
            return RP_EIO;
        data += w;
        n -= (size_t)w;
    }
    return RP_OK;
}

/* Reads one reply (multi-line replies end with "NNN "); returns its code, or -1. */
static int smtp_reply(struct smtp *s)
{
    for (;;) {
        char *nl;
        while ((nl = memchr(s->buf, '\n', s->len)) != NULL) {
            size_t line = (size_t)(nl - s->buf) + 1;
            int code = -1;
            bool last = line >= 4 && s->buf[3] == ' ';
            if (line >= 3)
                code = (s->buf[0] - '0') * 100 + (s->buf[1] - '0') * 10 + (s->buf[2] - '0');
            memmove(s->buf, s->buf + line, s->len - line);
            s->len -= line;
            if (last || line < 4)
                return code;
        }
        if (s->len == sizeof(s->buf))
            return -1;
        struct pollfd p = {s->fd, POLLIN, 0};
        if (poll(&p, 1, SMTP_TIMEOUT_MS) != 1)
            return -1;
        ssize_t r = recv(s->fd, s->buf + s->len, sizeof(s->buf) - s->len, 0);
        if (r <= 0)
            return -1;
        s->len += (size_t)r;
    }
}

static int smtp_cmd(struct smtp *s, const char *cmd, int want)
{
    if (cmd && smtp_send(s, cmd, strlen(cmd)))
        return RP_EIO;
    int code = smtp_reply(s);
    return code / 100 == want / 100 ? RP_OK : RP_EIO;
}

static int smtp_connect(const char *host, const char *port)
{
    int fd = gw_tcp_connect(host, (unsigned)strtoul(port, NULL, 10), false);
    if (fd >= 0) {
        struct timeval tv = {SMTP_TIMEOUT_MS / 1000, 0};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    return fd;
}

/* Sends one message file; the recipient is its "To: <...>" header. */
static int deliver(struct gw_mail *m, const char *path)
{
    char *text;
    size_t len;
    struct rp_error err;
    int result = rp_file_read(path, MAIL_MAX, &text, &len, &err);
    if (result)
        return result;
    char to[400] = "";
    const char *h = strstr(text, "\r\nTo: <");
    const char *end = h ? strchr(h + 7, '>') : NULL;
    if (!h || !end || (size_t)(end - h - 7) >= sizeof(to)) {
        free(text);
        return RP_EINVAL;
    }
    memcpy(to, h + 7, (size_t)(end - h - 7));
    to[end - h - 7] = '\0';
    struct smtp s = {.fd = smtp_connect(m->host, m->port)};
    if (s.fd < 0) {
        free(text);
        return RP_EIO;
    }
    char cmd[512];
    result = smtp_cmd(&s, NULL, 220);
    if (!result)
        result = smtp_cmd(&s, "HELO rampart\r\n", 250);
    if (!result)
        result = smtp_cmd(&s, "MAIL FROM:<no-reply@rampart.invalid>\r\n", 250);
    if (!result) {
        snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>\r\n", to);
        result = smtp_cmd(&s, cmd, 250);
    }
    if (!result)
        result = smtp_cmd(&s, "DATA\r\n", 354);
    /* Dot-stuffing: a line that starts with '.' gets another. */
    for (size_t i = 0; !result && i < len; i++) {
        if (text[i] == '.' && (i == 0 || text[i - 1] == '\n'))
            result = smtp_send(&s, ".", 1);
        if (!result)
            result = smtp_send(&s, text + i, 1);
    }
    if (!result)
        result = smtp_cmd(&s, "\r\n.\r\n", 250);
    if (!result)
        smtp_cmd(&s, "QUIT\r\n", 221);
    close(s.fd);
    free(text);
    return result;
}

static void deliver_all(struct gw_mail *m)
{
    DIR *d = opendir(m->outbox);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || n < 5 || strcmp(e->d_name + n - 4, ".eml") != 0)
            continue;
        char path[2048], sent[2100];
        snprintf(path, sizeof(path), "%s/%s", m->outbox, e->d_name);
        snprintf(sent, sizeof(sent), "%s/sent/%s", m->outbox, e->d_name);
        int rc = deliver(m, path);
        if (rc == RP_OK) {
            rename(path, sent);
            atomic_fetch_add(&m->sent, 1);
        } else {
            atomic_fetch_add(&m->failed, 1);
            if (rc == RP_EIO)
                break; /* the server is unreachable: try again next round */
        }
    }
    closedir(d);
}

static void *mail_main(void *arg)
{
    struct gw_mail *m = arg;
    pthread_mutex_lock(&m->lock);
    while (!m->stop) {
        pthread_mutex_unlock(&m->lock);
        deliver_all(m);
        pthread_mutex_lock(&m->lock);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        if (!m->stop && !m->kick)
            pthread_cond_timedwait(&m->cond, &m->lock, &ts);
        m->kick = false;
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

int gw_mail_start(struct gw_mail *m, const char *state_dir, const char *smtp_url,
                  struct rp_error *err)
{
    memset(m, 0, sizeof(*m));
    snprintf(m->outbox, sizeof(m->outbox), "%s/outbox", state_dir);
    const char *hp = smtp_url + strlen("smtp://");
    const char *colon = strrchr(hp, ':');
    const char *bracket = strchr(hp, ']');
    if (colon && (!bracket || colon > bracket)) {
        snprintf(m->port, sizeof(m->port), "%s", colon + 1);
        snprintf(m->host, sizeof(m->host), "%.*s", (int)(colon - hp), hp);
    } else {
        snprintf(m->port, sizeof(m->port), "25");
        snprintf(m->host, sizeof(m->host), "%s", hp);
    }
    size_t hl = strlen(m->host);
    if (hl >= 2 && m->host[0] == '[' && m->host[hl - 1] == ']') {
        memmove(m->host, m->host + 1, hl - 2);
        m->host[hl - 2] = '\0';
    }
    char sent[2100];
    snprintf(sent, sizeof(sent), "%s/sent", m->outbox);
    if ((mkdir(m->outbox, 0700) != 0 && errno != EEXIST) ||
        (mkdir(sent, 0700) != 0 && errno != EEXIST)) {
        rp_error_set(err, "cannot create '%s': %s", sent, strerror(errno));
        return RP_EIO;
    }
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->cond, NULL);
    if (pthread_create(&m->tid, NULL, mail_main, m) != 0) {
        rp_error_set(err, "cannot start the mail thread");
        return RP_ENOMEM;
    }
    m->running = true;
    return RP_OK;
}

void gw_mail_kick(struct gw_mail *m)
{
    if (!m || !m->running)
        return;
    pthread_mutex_lock(&m->lock);
    m->kick = true;
    pthread_cond_signal(&m->cond);
    pthread_mutex_unlock(&m->lock);
}

void gw_mail_stop(struct gw_mail *m)
{
    if (!m->running)
        return;
    pthread_mutex_lock(&m->lock);
    m->stop = true;
    pthread_cond_signal(&m->cond);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->tid, NULL);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->cond);
    m->running = false;
}
