// An allocator whose construct() without arguments default-initialises the
// element (`new (p) T`) where std::allocator value-initialises it
// (`new (p) T()`). For a vector of bytes that resize() grows and the caller
// then fills: std::string and std::vector<char> zero the new bytes first.
#pragma once

#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace rivulet::util {

template <typename T, typename Base = std::allocator<T>>
class DefaultInitAllocator : public Base {
  using Traits = std::allocator_traits<Base>;

 public:
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U, typename Traits::template rebind_alloc<U>>;
  };

  using Base::Base;

  template <typename U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    Traits::construct(static_cast<Base&>(*this), p, std::forward<Args>(args)...);
  }
};

}  // namespace rivulet::util
