/* The layer-plugin registry (darknet_patch/0002): registration rules, lookup, and the fatal
 * error for a section nobody knows. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "darknet.h"
#include "dsn_test.h"

#include <stdlib.h>
#include <string.h>

static layer parse_dummy(list *options, size_params params)
{
    layer l = {0};
    (void)options;
    l.batch = params.batch;
    l.inputs = l.outputs = params.inputs;
    l.w = l.out_w = params.w;
    l.h = l.out_h = params.h;
    l.c = l.out_c = params.c;
    l.output = calloc((size_t)l.batch*l.outputs, sizeof(float));
    return l;
}

static void test_register_and_find(void **state)
{
    (void)state;
    layer_plugin p = {LAYER_PLUGIN_ABI, "[test_dummy]", parse_dummy, 0, 0, 0};
    int t = register_layer_plugin(&p);
    assert_true(t >= PLUGIN_LAYER_BASE);
    const layer_plugin *f = find_layer_plugin(t);
    assert_non_null(f);
    assert_string_equal(f->name, "[test_dummy]");
    assert_ptr_equal(find_layer_plugin_by_name("[test_dummy]"), f);
    /* built-in types are not plugins */
    assert_null(find_layer_plugin(CONVOLUTIONAL));
    assert_null(find_layer_plugin_by_name("[convolutional]"));
    /* the DSN layers are registered by the library's constructor */
    assert_non_null(find_layer_plugin_by_name("[serial_stamp]"));
    assert_non_null(find_layer_plugin_by_name("[gradient_reversal]"));
    assert_non_null(find_layer_plugin_by_name("[distill_kl]"));
    assert_non_null(find_layer_plugin_by_name("[masked_softmax]"));
}

static void test_refusals(void **state)
{
    (void)state;
    layer_plugin dup = {LAYER_PLUGIN_ABI, "[serial_stamp]", parse_dummy, 0, 0, 0};
    assert_int_equal(register_layer_plugin(&dup), -1);
    layer_plugin builtin = {LAYER_PLUGIN_ABI, "[convolutional]", parse_dummy, 0, 0, 0};
    assert_int_equal(register_layer_plugin(&builtin), -1);
    layer_plugin alias = {LAYER_PLUGIN_ABI, "[conv]", parse_dummy, 0, 0, 0};
    assert_int_equal(register_layer_plugin(&alias), -1);
    layer_plugin abi = {LAYER_PLUGIN_ABI + 1, "[future_layer]", parse_dummy, 0, 0, 0};
    assert_int_equal(register_layer_plugin(&abi), -1);
    layer_plugin noparse = {LAYER_PLUGIN_ABI, "[no_parse]", 0, 0, 0, 0};
    assert_int_equal(register_layer_plugin(&noparse), -1);
    assert_int_equal(register_layer_plugin(NULL), -1);
    assert_null(find_layer_plugin_by_name("[future_layer]"));
}

static void test_plugin_in_cfg(void **state)
{
    (void)state;
    char dir[256];
    dsn_test_tmpdir(dir, sizeof dir);
    layer_plugin p = {LAYER_PLUGIN_ABI, "[test_cfg_dummy]", parse_dummy, 0, 0, 0};
    int t = register_layer_plugin(&p);
    assert_true(t >= PLUGIN_LAYER_BASE);
    char *cfg = dsn_test_write(dir, "p.cfg", "[net]\nbatch=2\nwidth=4\nheight=4\nchannels=1\n\n[test_cfg_dummy]\n\n[connected]\noutput=3\nactivation=linear\n");
    network *net = parse_network_cfg(cfg);
    assert_int_equal(net->n, 2);
    assert_int_equal(net->layers[0].type, t);
    assert_int_equal(net->layers[1].inputs, 16);
    free_network(net);
    free(cfg);
    dsn_test_rmtree(dir);
}

static char *unknown_cfg;
static void parse_unknown(void *arg)
{
    (void)arg;
    parse_network_cfg(unknown_cfg);
}

static void test_unknown_section_is_fatal(void **state)
{
    (void)state;
    char dir[256], err[4096];
    dsn_test_tmpdir(dir, sizeof dir);
    unknown_cfg = dsn_test_write(dir, "bad.cfg", "[net]\nbatch=1\nwidth=4\nheight=4\nchannels=1\n\n[connected]\noutput=3\n\n[serial_stump]\nbits=9\n");
    int rc = dsn_test_in_child(parse_unknown, 0, err, sizeof err);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(err, "bad.cfg"));
    assert_non_null(strstr(err, "[serial_stump]"));
    assert_non_null(strstr(err, "layer 1"));
    free(unknown_cfg);
    dsn_test_rmtree(dir);
}

int main(void)
{
    darknet_plugins_init();     /* a static link runs no constructor of an unreferenced object */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_and_find),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_plugin_in_cfg),
        cmocka_unit_test(test_unknown_section_is_fatal),
    };
    return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
