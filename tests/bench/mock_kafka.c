/* mock_kafka: runs librdkafka's mock cluster as a stand-alone process, so the
 * gateway benchmark can measure the gateway without a broker's cost.
 *   mock_kafka BROKERS TOPIC:PARTITIONS...
 * Prints the bootstrap servers on stdout, then runs until SIGTERM/SIGINT.
 * The mock cluster has no CreateTopics: name every topic used up front.
 *
 * Its brokers' sockets get TCP_NODELAY, as a Kafka broker's have: without
 * it, a response written while the previous one is not yet acknowledged
 * waits for the client's delayed ACK (Nagle), and ~2% of produce requests
 * took ~40 ms longer. librdkafka's mock does not set it; Linux copies it
 * from a listening socket to the connections accepted from it. */
#include <dirent.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

/* TCP_NODELAY on every listening socket of this process (the brokers'); the
 * number of sockets changed */
static int nodelay_listeners(void) {
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    int n = 0, one = 1, acc;
    socklen_t len = sizeof(acc);
    while (d && (de = readdir(d))) {
        int fd = atoi(de->d_name);
        len = sizeof(acc);
        if (fd > 2 && getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == 0 && acc &&
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0)
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s BROKERS [TOPIC:PARTITIONS...]\n", argv[0]);
        return 2;
    }
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "mock_kafka: %s\n", errstr);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, atoi(argv[1]));
    if (!mc) {
        fprintf(stderr, "mock_kafka: cannot create the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    for (int i = 2; i < argc; i++) {
        char *colon = strrchr(argv[i], ':');
        int parts = colon ? atoi(colon + 1) : 1;
        if (colon)
            *colon = '\0';
        if (rd_kafka_mock_topic_create(mc, argv[i], parts > 0 ? parts : 1, 1)) {
            fprintf(stderr, "mock_kafka: cannot create topic %s\n", argv[i]);
            return 1;
        }
    }
    if (nodelay_listeners() < atoi(argv[1]))
        fprintf(stderr, "mock_kafka: could not set TCP_NODELAY on every broker\n");
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    while (!stop)
        pause();
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
