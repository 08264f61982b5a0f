/* The gateway's route tables (src/server/route.c): literal paths, {id} and a final "*", and
 * methods. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "route.h"

static const struct gw_route table[] = {
    {"/admin/accounts", GW_GET, 1},
    {"/admin/accounts/{id}", GW_GET, 2},
    {"/admin/accounts/{id}/ban", GW_POST, 3},
    {"/v1/keys/*", GW_DELETE, 4},
    {"/healthz", 0, 5},
};

static int op_of(const char *path, enum gw_method m, int64_t *id)
{
    const struct gw_route *r = gw_route_find(table, sizeof(table) / sizeof(table[0]), path, m, id);
    return r ? r->op : -1;
}

static void test_route_find(void **state)
{
    (void)state;
    int64_t id = -1;
    assert_int_equal(op_of("/admin/accounts", GW_GET, &id), 1);
    assert_int_equal(id, 0);
    assert_int_equal(op_of("/admin/accounts/42", GW_GET, &id), 2);
    assert_int_equal(id, 42);
    assert_int_equal(op_of("/admin/accounts/42/ban", GW_POST, &id), 3);
    assert_int_equal(id, 42);
    /* The method is part of the route. */
    assert_int_equal(op_of("/admin/accounts/42/ban", GW_GET, &id), -1);
    assert_int_equal(op_of("/admin/accounts", GW_POST, &id), -1);
    /* {id} is a positive number, and the rest must match whole. */
    assert_int_equal(op_of("/admin/accounts/0", GW_GET, &id), -1);
    assert_int_equal(op_of("/admin/accounts/-3", GW_GET, &id), -1);
    assert_int_equal(op_of("/admin/accounts/x", GW_GET, &id), -1);
    assert_int_equal(op_of("/admin/accounts/42/", GW_GET, &id), -1);
    assert_int_equal(op_of("/admin/accounts/42/banned", GW_POST, &id), -1);
    assert_int_equal(op_of("/admin/accountsx", GW_GET, &id), -1);
    assert_int_equal(op_of("/admin/account", GW_GET, &id), -1);
    /* A final "*" takes any rest, the empty one too; 0 methods take any. */
    assert_int_equal(op_of("/v1/keys/", GW_DELETE, &id), 4);
    assert_int_equal(op_of("/v1/keys/17/x", GW_DELETE, &id), 4);
    assert_int_equal(op_of("/v1/keys", GW_DELETE, &id), -1);
    assert_int_equal(op_of("/healthz", GW_HEAD, &id), 5);
    assert_int_equal(op_of("/healthz", GW_OTHER, &id), 5);
    assert_int_equal(op_of("", GW_GET, &id), -1);
    assert_int_equal(id, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_find),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
