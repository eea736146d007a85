/* Unit tests for the utility layer in common/: net_addr. */
#include <netinet/in.h>
#include <sys/socket.h>

#include "harness.h"
#include "net_addr.h"

static void test_net_addr(void) {
    struct sockaddr_storage ss;
    socklen_t sl;
    char err[256];
    CHECK_INT(net_addr_parse("127.0.0.1:80", &ss, &sl, err, sizeof(err)), 0);
    CHECK_INT(ss.ss_family, AF_INET);
    CHECK_INT(net_addr_parse("[::1]:80", &ss, &sl, err, sizeof(err)), 0);
    CHECK_INT(ss.ss_family, AF_INET6);
    CHECK_INT(net_addr_parse(":8080", &ss, &sl, err, sizeof(err)), -1);
    CHECK_INT(net_addr_parse("127.0.0.1:http", &ss, &sl, err, sizeof(err)), -1);
}

int main(void) {
    TEST(test_net_addr);
    return test_done();
}
