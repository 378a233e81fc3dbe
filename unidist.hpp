/* unidist.hpp - v0.1.0 - C++11 helpers over unidist.h - Apache-2.0 (see end)

   USAGE
     Optional, C++ only; C programs use unidist.h alone. Include it after the implementation
     (or anywhere else, over an implementation built in another file):
         #define UNIDIST_IMPLEMENTATION
         #include "unidist.h"        (or "unidist_mpi.h", built with mpicxx)
         #include "unidist.hpp"

         static int square(ud_task *t) {
             int x = unidist::arg<int>(t, 0);
             unidist::result(t, 0, x * x);
             return 0;
         }
         ...
         ud_func f = unidist::register_task("square", square);   (every process, before init)
         if (unidist::init() != UD_ROLE_DRIVER) return 0;         (MPI: a worker, after shutdown)
         {
             unidist::ref five = unidist::put(5);
             unidist::ref out = unidist::remote(f, {five.as_arg()});
             int y = unidist::get<int>(out);                      (25; both refs freed at })
         }
         unidist::shutdown();

     unidist::ref owns a ref and frees it when it goes (move-only); refs must go before
     shutdown. Views need no release: they live as long as their ref. The typed helpers copy
     one trivially copyable T, and check that the object has exactly its size.

   ERRORS
     A failed call throws unidist::error: status() is its ud_status, what() ud_last_error()'s
     detail and the status's name. get<T> of a failed task's result throws UD_ERR_TASK with the
     task's message. Thrown inside a task, any exception fails that task with its what() --
     when the implementation is compiled as C++ (a C-built one cannot catch it).
*/
#ifndef UNIDIST_HPP
#define UNIDIST_HPP

#ifndef __cplusplus
#error "unidist.hpp is C++; C programs use unidist.h"
#endif

#include "unidist.h"

#include <cstring>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace unidist {

class error : public std::runtime_error {
public:
    error(ud_status s, const std::string &detail)
        : std::runtime_error(detail + " (" + ud_status_str(s) + ")"), status_(s) {}
    ud_status status() const noexcept { return status_; }

private:
    ud_status status_;
};

// Throws the call's failure, with the detail ud_last_error() holds.
inline void check(ud_status s) {
    if (s != UD_OK) throw error(s, ud_last_error());
}

// One ref, freed when this goes. Move-only: a copy would free it twice.
class ref {
public:
    ref() noexcept : r_(), owned_(false) {}
    explicit ref(ud_ref r) noexcept : r_(r), owned_(true) {}
    ref(ref &&o) noexcept : r_(o.r_), owned_(o.owned_) { o.owned_ = false; }
    ref &operator=(ref &&o) noexcept {
        if (this != &o) {
            reset();
            r_ = o.r_;
            owned_ = o.owned_;
            o.owned_ = false;
        }
        return *this;
    }
    ref(const ref &) = delete;
    ref &operator=(const ref &) = delete;
    ~ref() { reset(); }

    const ud_ref &get() const noexcept { return r_; }
    ud_arg as_arg() const noexcept { return ud_arg_ref(r_); }
    explicit operator bool() const noexcept { return owned_; }
    // Gives up ownership: the caller frees the ref.
    ud_ref release() noexcept {
        owned_ = false;
        return r_;
    }
    // (a destructor cannot report ud_free's failure: call ud_free on release() to see it)
    void reset() noexcept {
        if (owned_) ud_free(r_);
        owned_ = false;
    }

private:
    ud_ref r_;
    bool owned_;
};

namespace detail {
// Copies a view's parts into one T; the object must have exactly sizeof(T) bytes.
template <class T>
T read(const ud_view &v, const char *what) {
    static_assert(std::is_trivially_copyable<T>::value, "unidist: T must be trivially copyable");
    size_t size = 0;
    int k;
    for (k = 0; k < v.nparts; k++) size += v.parts[k].size;
    if (size != sizeof(T))
        throw error(UD_ERR_SIZE, std::string(what) + ": the object has " + std::to_string(size) +
                                     " bytes, the type " + std::to_string(sizeof(T)));
    T out;
    char *dst = reinterpret_cast<char *>(&out);
    for (k = 0; k < v.nparts; k++) {
        if (v.parts[k].size) std::memcpy(dst, v.parts[k].data, v.parts[k].size);
        dst += v.parts[k].size;
    }
    return out;
}
} // namespace detail

/* flags: UD_FN_* (UD_FN_INLINE: a tiny task, run on an MPI worker's loop thread) */
inline ud_func register_task(const char *name, ud_task_fn fn, void *user = nullptr, unsigned flags = 0) {
    ud_func id;
    check(ud_register_flags(name, fn, user, flags, &id));
    return id;
}

inline ud_role init(const ud_config *cfg = nullptr) {
    ud_role role;
    check(ud_init(cfg, &role));
    return role;
}

inline void shutdown() { check(ud_shutdown()); }

template <class T>
ref put(const T &value) {
    static_assert(std::is_trivially_copyable<T>::value, "unidist::put: T must be trivially copyable");
    ud_ref r;
    check(ud_put(&value, sizeof value, &r));
    return ref(r);
}

// Submits fn(args) with one result.
inline ref remote(ud_func fn, std::initializer_list<ud_arg> args) {
    ud_ref out;
    check(ud_remote(fn, args.begin(), static_cast<int>(args.size()), 1, &out));
    return ref(out);
}

template <class T>
T get(ud_ref r) {
    ud_view v;
    check(ud_get(r, &v));
    return detail::read<T>(v, "unidist::get");
}

template <class T>
T get(const ref &r) {
    return get<T>(r.get());
}

// In a task: argument i as a T.
template <class T>
T arg(const ud_task *t, int i) {
    ud_view v;
    check(ud_task_arg(t, i, &v));
    return detail::read<T>(v, ("unidist::arg " + std::to_string(i)).c_str());
}

// In a task: result i holds value.
template <class T>
void result(ud_task *t, int i, const T &value) {
    static_assert(std::is_trivially_copyable<T>::value, "unidist::result: T must be trivially copyable");
    void *p = ud_task_result(t, i, sizeof value);
    if (!p)
        throw error(UD_ERR_NOMEM, "unidist::result " + std::to_string(i) +
                                      ": out of memory, or not one of the task's results");
    std::memcpy(p, &value, sizeof value);
}

} // namespace unidist

#endif /* UNIDIST_HPP */

/*
   LICENSE: Apache License 2.0, see the file LICENSE.
   Copyright 2026 the unidist for C authors.
*/
