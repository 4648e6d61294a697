// Status: what the core returns instead of throwing. An errno and the name of
// the system call (or step) that failed, plus a short human message; and,
// once a layer that knows the context has classified it, the kind of
// failure (which src/errors.ts ErrorCode the JS side raises), the option at
// fault and the full sentence to show.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

namespace weft {

// Which error code a failure is raised with in JS: the key of `ErrorCode` in
// src/errors.ts (ErrorKindKey). The binding checks at load time that every
// key exists there (test/native/errors.test.ts).
enum class ErrorKind : uint8_t {
  kTun,            // opening or configuring the TUN device
  kSocket,         // binding or configuring a UDP socket, or another start-up step
  kTable,          // creating, attaching or writing the shared-memory table
  kTableFull,      // the table has no room for another entry
  kInvalidOption,  // an argument out of range
  kClosed,         // used after close()
  kHandoff,        // taking a running data plane over from a predecessor
  kCount,
};

inline constexpr const char* ErrorKindKey(ErrorKind k) {
  switch (k) {
    case ErrorKind::kTun:
      return "TUN";
    case ErrorKind::kSocket:
      return "SOCKET";
    case ErrorKind::kTable:
      return "TABLE";
    case ErrorKind::kTableFull:
      return "TABLE_FULL";
    case ErrorKind::kInvalidOption:
      return "INVALID_OPTION";
    case ErrorKind::kClosed:
      return "CLOSED";
    case ErrorKind::kHandoff:
      return "HANDOFF";
    case ErrorKind::kCount:
      break;
  }
  return "";
}

class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Errno(int err, const char* syscall, std::string message) {
    Status s;
    s.errno_ = err == 0 ? EIO : err;
    s.syscall_ = syscall;
    s.message_ = std::move(message);
    return s;
  }
  // Captures the current errno.
  static Status FromErrno(const char* syscall, std::string message) {
    return Errno(errno, syscall, std::move(message));
  }

  bool ok() const { return errno_ == 0; }
  int err() const { return errno_; }
  const char* syscall() const { return syscall_; }
  const std::string& message() const { return message_; }
  ErrorKind kind() const { return kind_; }
  // The option at fault (a DataPlaneOptions name), or "" for none.
  const char* option() const { return option_; }
  // A transient failure: a retry may succeed (WeftError.recoverable).
  bool recoverable() const { return recoverable_; }
  // "message: strerror (syscall)", or the sentence Classify gave.
  std::string ToString() const {
    if (ok()) return "ok";
    if (!text_.empty()) return text_;
    return message_ + ": " + std::strerror(errno_) + " (" + syscall_ + ")";
  }

  // The same failure, classified: raised as `kind`, blaming `option`, shown as `text`.
  Status Classify(ErrorKind kind, const char* option, std::string text, bool recoverable = false) const {
    Status s = *this;
    s.kind_ = kind;
    s.option_ = option;
    s.text_ = std::move(text);
    s.recoverable_ = recoverable;
    return s;
  }

 private:
  int errno_ = 0;
  const char* syscall_ = "";
  std::string message_;
  ErrorKind kind_ = ErrorKind::kSocket;
  const char* option_ = "";
  std::string text_;
  bool recoverable_ = false;
};

}  // namespace weft
