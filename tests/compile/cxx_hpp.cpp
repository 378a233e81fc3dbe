// unidist.hpp over a C++-built implementation: a ref frees its object once, when its last
// owner goes; a size that does not match the type throws UD_ERR_SIZE on the driver and fails
// the task inside one; a failed call throws its status.
#define UNIDIST_IMPLEMENTATION
#include "unidist.h"
#include "unidist.hpp"

#include <cstdio>
#include <cstring>

static int failures;

static void expect(bool ok, const char *what) {
    std::printf("%s %s\n", ok ? "PASS" : "FAIL", what);
    if (!ok) failures++;
}

static int twice(ud_task *t) {
    unidist::result(t, 0, 2 * unidist::arg<int>(t, 0));
    return 0;
}

// The status a call throws, UD_OK if none.
template <class F>
static ud_status thrown(F f, std::string *what = nullptr) {
    try {
        f();
    } catch (const unidist::error &e) {
        if (what) *what = e.what();
        return e.status();
    }
    return UD_OK;
}

int main() {
    ud_func ftwice = unidist::register_task("twice", twice);
    unidist::init();
    {
        unidist::ref a = unidist::put(21);
        ud_ref raw = a.get();
        unidist::ref b = std::move(a);
        expect(!a && b && unidist::get<int>(b) == 21, "a moved ref keeps its object");
        unidist::ref out = unidist::remote(ftwice, {b.as_arg()});
        expect(unidist::get<int>(out) == 42, "arg<int> and result<int> in a task");
        b.reset();
        ud_view v;
        expect(ud_get(raw, &v) == UD_ERR_FREED, "reset frees the ref");
        expect(thrown([&] { unidist::get<int>(raw); }) == UD_ERR_FREED, "get of a freed ref throws UD_ERR_FREED");

        unidist::ref big = unidist::put(7.0);
        expect(thrown([&] { unidist::get<int>(big); }) == UD_ERR_SIZE, "get<int> of 8 bytes throws UD_ERR_SIZE");
        unidist::ref bad = unidist::remote(ftwice, {big.as_arg()});
        std::string what;
        expect(thrown([&] { unidist::get<int>(bad); }, &what) == UD_ERR_TASK &&
                   what.find("unidist::arg 0: the object has 8 bytes, the type 4") != std::string::npos,
               "arg<int> of 8 bytes fails the task, saying so");
        if (what.find("the type 4") == std::string::npos) std::printf("  what(): %s\n", what.c_str());
    }
    unidist::shutdown();
    expect(thrown([] { unidist::put(1); }) == UD_ERR_STATE, "put after shutdown throws UD_ERR_STATE");
    return failures ? 1 : 0;
}
