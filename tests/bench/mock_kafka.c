/* mock_kafka: runs librdkafka's mock cluster as a stand-alone process, so the
 * gateway benchmark can measure the gateway without a broker's cost.
 *   mock_kafka BROKERS TOPIC:PARTITIONS...
 * Prints the bootstrap servers on stdout, then runs until SIGTERM/SIGINT.
 * The mock cluster has no CreateTopics: name every topic used up front. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
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
