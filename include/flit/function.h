// flit/function.h: a move-only callable that never allocates.
//
// flit::Function<void(Status), 64> stores a lambda of up to 64 bytes of
// captures inline; a larger capture is a compile error, not a heap
// allocation. Continuations and handlers use it so that issuing a call costs
// no malloc (std::function allocates beyond 16 bytes of captures).
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace flit {

template <typename Sig, size_t kCapacity = 64>
class Function;

template <typename R, typename... Args, size_t kCapacity>
class Function<R(Args...), kCapacity> {
 public:
  Function() = default;
  Function(std::nullptr_t) {}

  template <typename F, typename D = std::decay_t<F>,
            typename = std::enable_if_t<!std::is_same_v<D, Function> &&
                                        std::is_invocable_r_v<R, D&, Args...>>>
  Function(F&& f) {  // NOLINT: implicit like std::function
    static_assert(sizeof(D) <= kCapacity,
                  "flit::Function: the callable's captures exceed its inline capacity; capture "
                  "a pointer to a struct instead");
    static_assert(alignof(D) <= alignof(std::max_align_t), "over-aligned callable");
    static_assert(std::is_nothrow_move_constructible_v<D>, "callable must be nothrow-movable");
    new (storage_) D(std::forward<F>(f));
    invoke_ = [](void* s, Args... args) -> R {
      return (*static_cast<D*>(s))(std::forward<Args>(args)...);
    };
    manage_ = [](void* dst, void* src) noexcept {
      D* from = static_cast<D*>(src);
      if (dst != nullptr) new (dst) D(std::move(*from));
      from->~D();
    };
  }

  Function(Function&& o) noexcept { move_from(o); }
  Function& operator=(Function&& o) noexcept {
    if (this != &o) {
      reset();
      move_from(o);
    }
    return *this;
  }
  Function(const Function&) = delete;
  Function& operator=(const Function&) = delete;
  ~Function() { reset(); }

  explicit operator bool() const { return invoke_ != nullptr; }

  R operator()(Args... args) { return invoke_(storage_, std::forward<Args>(args)...); }

  void reset() {
    if (manage_ != nullptr) manage_(nullptr, storage_);
    invoke_ = nullptr;
    manage_ = nullptr;
  }

 private:
  void move_from(Function& o) noexcept {
    if (o.manage_ != nullptr) o.manage_(storage_, o.storage_);
    invoke_ = o.invoke_;
    manage_ = o.manage_;
    o.invoke_ = nullptr;
    o.manage_ = nullptr;
  }

  alignas(std::max_align_t) unsigned char storage_[kCapacity];
  R (*invoke_)(void*, Args...) = nullptr;
  void (*manage_)(void*, void*) noexcept = nullptr;
};

}  // namespace flit
